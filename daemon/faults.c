/*
 * faults.c - failure injection (faults.h). Built twice: as part of arbord,
 * where every function is the identity or nothing, and with -DARB_FAULTS
 * into the test build, which reads ARBOR_FAULT_* from its environment.
 * The two versions are whole functions, so no body holds an #if.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"
#include "faults.h"

#ifdef ARB_FAULTS

/* The value of name as a number, or -1 when unset or not a number. */
static long
fault_number(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return -1;
	n = strtol(v, &end, 10);
	return *end == '\0' && n >= 0 ? n : -1;
}

void
arb_faults_arm_core(void)
{
	long n = fault_number("ARBOR_FAULT_CORE_ALLOC");

	if (n > 0)
		arb_mem_fail_after((unsigned)n);
}

uint32_t
arb_faults_queue_cap(uint32_t cap)
{
	long n = fault_number("ARBOR_FAULT_QUEUE_CAP");

	return n >= 0 ? (uint32_t)n : cap;
}

bool
arb_faults_queue_may_grow(void)
{
	return fault_number("ARBOR_FAULT_QUEUE_GROW") != 0;
}

bool
arb_faults_resume_fails(void)
{
	return fault_number("ARBOR_FAULT_RESUME") == 1;
}

int
arb_faults_clone3_error(void)
{
	long n = fault_number("ARBOR_FAULT_CLONE3");

	return n > 0 && n < 4096 ? (int)n : 0;
}

bool
arb_faults_no_cgroup_kill(void)
{
	return fault_number("ARBOR_FAULT_NO_CGROUP_KILL") == 1;
}

#else

void
arb_faults_arm_core(void)
{
}

uint32_t
arb_faults_queue_cap(uint32_t cap)
{
	return cap;
}

bool
arb_faults_queue_may_grow(void)
{
	return true;
}

bool
arb_faults_resume_fails(void)
{
	return false;
}

int
arb_faults_clone3_error(void)
{
	return 0;
}

bool
arb_faults_no_cgroup_kill(void)
{
	return false;
}

#endif
