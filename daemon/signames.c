/*
 * signames.c - the table behind signames.h. Only the standard signals:
 * real-time signals are not accepted by name.
 */
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "signames.h"

static const struct {
	int signo;
	const char *name;
} signals[] = {
	{SIGHUP, "HUP"},     {SIGINT, "INT"},       {SIGQUIT, "QUIT"},
	{SIGILL, "ILL"},     {SIGTRAP, "TRAP"},     {SIGABRT, "ABRT"},
	{SIGBUS, "BUS"},     {SIGFPE, "FPE"},       {SIGKILL, "KILL"},
	{SIGUSR1, "USR1"},   {SIGSEGV, "SEGV"},     {SIGUSR2, "USR2"},
	{SIGPIPE, "PIPE"},   {SIGALRM, "ALRM"},     {SIGTERM, "TERM"},
	{SIGSTKFLT, "STKFLT"}, {SIGCHLD, "CHLD"},   {SIGCONT, "CONT"},
	{SIGSTOP, "STOP"},   {SIGTSTP, "TSTP"},     {SIGTTIN, "TTIN"},
	{SIGTTOU, "TTOU"},   {SIGURG, "URG"},       {SIGXCPU, "XCPU"},
	{SIGXFSZ, "XFSZ"},   {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"},
	{SIGWINCH, "WINCH"}, {SIGIO, "IO"},         {SIGPWR, "PWR"},
	{SIGSYS, "SYS"},
};

const char *
arb_signal_name(int signo)
{
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].signo == signo)
			return signals[i].name;
	return NULL;
}

int
arb_signal_from_name(const char *name)
{
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (strcasecmp(signals[i].name, name) == 0)
			return signals[i].signo;
	return -1;
}
