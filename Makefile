# arbor - supervision trees for Unix processes.
#
#   make                  build daemon/arbord
#   make check            build and run every test (unit, golden, integration,
#                         conformance); SANITIZE=1 runs them under ASan+UBSan
#   make lint             prove the pure core makes no syscalls (STYLE.md 1)
#   make packaging-check  the systemd units, Dockerfile and pod manifest,
#                         and arbord as a container's init under crun
#   make install          honours PREFIX, DESTDIR, SYSCONFDIR, MANDIR,
#                         SYSTEMDUNITDIR, EXAMPLEDIR
#   make deb              the Debian package, into build/deb/ (debian/)
#   make boot             boot arbord as init under qemu (tests/boot/; part
#                         of make check, skipped without qemu or a kernel)
#   make vm               a small system on this terminal: arbord as the init
#                         of the tree VM_CONFIG, under qemu (log in as root)
#   make bench            run the benchmarks in tests/bench/
#   make bench-boot       boot time under qemu, p50 of 5, and initramfs sizes
#   make fuzz             fuzz the config loader, the wire and notify parsers (clang)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
EXAMPLEDIR ?= $(PREFIX)/share/doc/arbor/examples
DESTDIR ?=
VERSION := 0.1.0

CC ?= cc
PKG_CONFIG ?= pkg-config
PYTEST ?= $(shell command -v pytest-3 2>/dev/null || echo "/usr/bin/python3 -m pytest")

CFLAGS ?= -O2 -g
# Link only what is used: arbord does not pay for a library it never calls.
LDFLAGS += -Wl,--as-needed
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -DARB_VERSION='"$(VERSION)"' \
	-DARB_SYSCONFDIR='"$(SYSCONFDIR)"' -Idaemon -Icommon
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS)

ifeq ($(SANITIZE),1)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
ALL_CFLAGS += $(SAN)
LDFLAGS += $(SAN)
endif

# Debian's libev ships no .pc file: fall back to plain -lev.
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs = $(or $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null),$(2))
DEP_CFLAGS := $(call pc_cflags,libev libconfig libsystemd jansson)
DEP_LIBS := $(call pc_libs,libev,-lev) $(call pc_libs,libconfig,-lconfig) \
	$(call pc_libs,libsystemd,-lsystemd) $(call pc_libs,jansson,-ljansson)
CMOCKA_LIBS := $(call pc_libs,cmocka,-lcmocka)

# Rebuild everything when the flags change (e.g. SANITIZE=1 after a plain build).
FLAGS_STAMP := .build-flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS)
$(shell printf '%s\n' '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) || \
	printf '%s\n' '$(FLAGS_NOW)' > $(FLAGS_STAMP))
# Make caches the directory before the $(shell) above runs: without this
# rule a fresh tree would fall back to the built-in %.o rule and its flags.
$(FLAGS_STAMP): ;

# The folders are the architecture (DESIGN.md "Layout"): the pure core,
# then the shell around it, folder by folder.
CORE_SRCS := $(wildcard daemon/core/*.c)
CONFIG_SRCS := $(wildcard daemon/config/*.c)
CONTROL_SRCS := $(wildcard daemon/control/*.c)
LOGS_SRCS := $(wildcard daemon/logs/*.c)
INIT_SRCS := $(wildcard daemon/init/*.c)
STATE_SRCS := $(wildcard daemon/state/*.c)
SHELL_SRCS := $(wildcard daemon/*.c) $(CONFIG_SRCS) $(CONTROL_SRCS) \
	$(LOGS_SRCS) $(INIT_SRCS) $(STATE_SRCS) common/wire.c common/sockpath.c \
	common/logtext.c
DAEMON_OBJS := $(CORE_SRCS:.c=.o) $(SHELL_SRCS:.c=.o)
HEADERS := $(wildcard daemon/*.h daemon/*/*.h common/*.h ctl/*.h)
JANSSON_CFLAGS := $(call pc_cflags,jansson)
JANSSON_LIBS := $(call pc_libs,jansson,-ljansson)
CTL_SRCS := ctl/arborctl.c ctl/render.c ctl/top.c ctl/top_view.c ctl/metrics.c \
	ctl/journal.c
CTL_OBJS := $(CTL_SRCS:.c=.o) common/wire.o common/sockpath.o common/logtext.o
# Only arborctl links libsystemd's sd-journal (README: arbord speaks the
# notify, socket and journal protocols itself).
SYSTEMD_CFLAGS := $(call pc_cflags,libsystemd)
SYSTEMD_LIBS := $(call pc_libs,libsystemd,-lsystemd)

UNIT_TESTS := tests/unit/test_tree tests/unit/test_living tests/unit/test_lifecycle tests/unit/test_tree_random tests/unit/test_spec \
	tests/unit/test_oracle tests/unit/test_pidmap tests/unit/test_pidfd \
	tests/unit/test_wire \
	tests/unit/test_sockpath tests/unit/test_render tests/unit/test_top_view \
	tests/unit/test_logtext \
	tests/unit/test_notify \
	tests/unit/test_logring tests/unit/test_shutdown \
	tests/unit/test_child_spec tests/unit/test_plan tests/unit/test_spec_json \
	tests/unit/test_handover tests/unit/test_logs_state tests/unit/test_tree_state \
	tests/unit/test_state tests/unit/test_cgroup_rel tests/unit/test_spawn \
	tests/unit/test_cg_limits tests/unit/test_usage tests/unit/test_metrics

.PHONY: all check unit golden pytest integration conformance lint install \
	uninstall deb clean bench golden-update fuzz boot boot-bins bench-boot \
	packaging-check vm

all: daemon/arbord ctl/arborctl

$(DAEMON_OBJS): %.o: %.c $(HEADERS) Makefile $(FLAGS_STAMP)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -c -o $@ $<

daemon/arbord: $(DAEMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJS) $(DEP_LIBS)

$(CTL_SRCS:.c=.o): %.o: %.c $(HEADERS) Makefile $(FLAGS_STAMP)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS) \
		-c -o $@ $<

ctl/arborctl: $(CTL_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) $(SYSTEMD_LIBS) $(JANSSON_LIBS)

tests/unit/test_wire: tests/unit/test_wire.c common/wire.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(JANSSON_CFLAGS) -o $@ $< common/wire.o \
		$(LDFLAGS) $(CMOCKA_LIBS) $(JANSSON_LIBS)

tests/unit/test_sockpath: tests/unit/test_sockpath.c common/sockpath.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< common/sockpath.o \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_logtext: tests/unit/test_logtext.c common/logtext.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(JANSSON_CFLAGS) -o $@ $< \
		common/logtext.o $(LDFLAGS) $(CMOCKA_LIBS) $(JANSSON_LIBS)

tests/unit/test_render: tests/unit/test_render.c ctl/render.o common/wire.o
	$(CC) $(CPPFLAGS) -Ictl $(ALL_CFLAGS) $(JANSSON_CFLAGS) -o $@ $< \
		ctl/render.o common/wire.o $(LDFLAGS) $(CMOCKA_LIBS) $(JANSSON_LIBS)

tests/unit/test_top_view: tests/unit/test_top_view.c ctl/top_view.o \
		ctl/render.o common/wire.o
	$(CC) $(CPPFLAGS) -Ictl $(ALL_CFLAGS) $(JANSSON_CFLAGS) -o $@ $< \
		ctl/top_view.o ctl/render.o common/wire.o $(LDFLAGS) \
		$(CMOCKA_LIBS) $(JANSSON_LIBS)

tests/unit/test_metrics: tests/unit/test_metrics.c ctl/metrics.o
	$(CC) $(CPPFLAGS) -Ictl $(ALL_CFLAGS) $(JANSSON_CFLAGS) -o $@ $< \
		ctl/metrics.o $(LDFLAGS) $(CMOCKA_LIBS) $(JANSSON_LIBS)

tests/unit/test_tree: tests/unit/test_tree.c tests/unit/scenario.h \
		$(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_living: tests/unit/test_living.c tests/unit/scenario.h \
		$(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_lifecycle: tests/unit/test_lifecycle.c tests/unit/scenario.h \
		$(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_tree_state: tests/unit/test_tree_state.c \
		tests/unit/scenario.h $(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_tree_random: tests/unit/test_tree_random.c \
		tests/unit/scenario.h $(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_cgroup_rel: tests/unit/test_cgroup_rel.c daemon/cgroup.o \
		daemon/cgroup_file.o $(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/cgroup.o \
		daemon/cgroup_file.o $(CORE_SRCS:.c=.o) $(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_spec: tests/unit/test_spec.c $(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(CORE_SRCS:.c=.o) \
		$(LDFLAGS) $(CMOCKA_LIBS)

# The loader with what it reads besides libconfig: the model, signal names.
CHILD_SPEC_OBJS := $(CONFIG_SRCS:.c=.o) $(CORE_SRCS:.c=.o) daemon/signames.o
tests/unit/test_child_spec: tests/unit/test_child_spec.c $(CHILD_SPEC_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(CHILD_SPEC_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,libconfig,-lconfig)

# The limit keys through the loader, and their writer (cgroup_limits.c).
CG_LIMITS_TEST_OBJS := $(CHILD_SPEC_OBJS) daemon/cgroup_limits.o
tests/unit/test_cg_limits: tests/unit/test_cg_limits.c $(CG_LIMITS_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(CG_LIMITS_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,libconfig,-lconfig)

# The plan's JSON is the shell's (jansson), its signal names signames.c's;
# the golden configurations are read with the loader (libconfig).
PLAN_TEST_OBJS := $(CORE_SRCS:.c=.o) $(CONFIG_SRCS:.c=.o) \
	daemon/control/plan_json.o daemon/signames.o common/wire.o
tests/unit/test_plan: tests/unit/test_plan.c $(PLAN_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(PLAN_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,libconfig,-lconfig) $(JANSSON_LIBS)

# The codec (jansson) with the loader for the golden configurations and
# state.c's checked getters.
SPEC_JSON_TEST_OBJS := $(CORE_SRCS:.c=.o) $(CONFIG_SRCS:.c=.o) \
	daemon/state/spec_json.o daemon/state/state.o daemon/signames.o
tests/unit/test_spec_json: tests/unit/test_spec_json.c $(SPEC_JSON_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(SPEC_JSON_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,libconfig,-lconfig) $(JANSSON_LIBS)

# The spec codec's size and speed at 1000 services (not run by `make bench`:
# run it by hand, tests/bench/spec_json_bench [services]).
tests/bench/spec_json_bench: tests/bench/spec_json_bench.c $(SPEC_JSON_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(SPEC_JSON_TEST_OBJS) $(LDFLAGS) \
		$(call pc_libs,libconfig,-lconfig) $(JANSSON_LIBS)

# A start's cost in a cgroup: clone3's, the fallback's, and without one
# (not run by `make bench`: as root, tests/bench/spawn_cgroup_bench).
tests/bench/spawn_cgroup_bench: tests/bench/spawn_cgroup_bench.c \
		tests/bench/bench_time.h daemon/spawn.o daemon/faults.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/spawn.o daemon/faults.o \
		$(LDFLAGS)

# arborctl's decoding and drawing of a Status of 10000 rows, without arbord
# (not run by `make bench`: tests/bench/render_bench [services | FILE]).
tests/bench/render_bench: tests/bench/render_bench.c ctl/render.o common/wire.o
	$(CC) $(CPPFLAGS) -Ictl $(ALL_CFLAGS) -o $@ $< ctl/render.o \
		common/wire.o $(LDFLAGS) $(JANSSON_LIBS)

tests/unit/test_shutdown: tests/unit/test_shutdown.c daemon/core/shutdown.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/core/shutdown.o \
		$(LDFLAGS) $(CMOCKA_LIBS)

# The control socket across a re-exec: the whole shell but main.c.
HANDOVER_TEST_OBJS := $(filter-out daemon/main.o,$(DAEMON_OBJS))
tests/unit/test_handover: tests/unit/test_handover.c $(HANDOVER_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(HANDOVER_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) $(DEP_LIBS)

tests/unit/test_state: tests/unit/test_state.c tests/fuzz/state_holders.h \
		$(HANDOVER_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(HANDOVER_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) $(DEP_LIBS)

NOTIFY_TEST_OBJS := daemon/notify.o daemon/fdutil.o daemon/state/state.o
tests/unit/test_notify: tests/unit/test_notify.c $(NOTIFY_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(JANSSON_CFLAGS) -o $@ $< \
		$(NOTIFY_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,libev,-lev) $(JANSSON_LIBS)

tests/unit/test_logring: tests/unit/test_logring.c daemon/logs/ring.o daemon/core/mem.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/logs/ring.o daemon/core/mem.o \
		$(LDFLAGS) $(CMOCKA_LIBS)

# Capture with its sinks, and the state container it saves into.
LOGS_STATE_TEST_OBJS := $(LOGS_SRCS:.c=.o) daemon/state/state.o \
	daemon/fdutil.o daemon/fdlimit.o daemon/signames.o common/logtext.o \
	$(CORE_SRCS:.c=.o)
tests/unit/test_logs_state: tests/unit/test_logs_state.c $(LOGS_STATE_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEP_CFLAGS) -o $@ $< \
		$(LOGS_STATE_TEST_OBJS) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,libev,-lev) $(JANSSON_LIBS)

tests/unit/test_pidmap: tests/unit/test_pidmap.c daemon/pidmap.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/pidmap.o \
		$(LDFLAGS) $(CMOCKA_LIBS)

# usage.c alone: the test names each node's cgroup itself.
tests/unit/test_usage: tests/unit/test_usage.c daemon/usage.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/usage.o \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_pidfd: tests/unit/test_pidfd.c daemon/pidfd.o
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< daemon/pidfd.o \
		$(LDFLAGS) $(CMOCKA_LIBS)

tests/unit/test_oracle: tests/unit/test_oracle.c tests/unit/scenario.h \
		$(CORE_SRCS:.c=.o)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(call pc_cflags,jansson) -o $@ $< \
		$(CORE_SRCS:.c=.o) $(LDFLAGS) $(CMOCKA_LIBS) \
		$(call pc_libs,jansson,-ljansson)

# Programs the integration tests run as services; never sanitized (the
# sanitizers are arbord's), linked only with what they use.
HELPERS := tests/integration/helpers/listen_echo \
	tests/integration/helpers/fewslots.so \
	tests/integration/helpers/forkmask.so \
	tests/bench/malloc_count.so
# Counts arbord's heap calls: the benchmarks' and test_pools' memory checks.
tests/bench/malloc_count.so: tests/bench/malloc_count.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes $(CFLAGS) \
		-shared -fPIC -o $@ $<
tests/integration/helpers/fewslots.so: tests/integration/helpers/fewslots.c
	$(CC) -std=c11 $(WARN) -Wno-missing-prototypes $(CFLAGS) -shared -fPIC \
		-o $@ $< -ldl
tests/integration/helpers/forkmask.so: tests/integration/helpers/forkmask.c
	$(CC) -std=c11 $(WARN) -Wno-missing-prototypes $(CFLAGS) -shared -fPIC \
		-o $@ $< -ldl
tests/integration/helpers/listen_echo: tests/integration/helpers/listen_echo.c
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) \
		$(call pc_cflags,libsystemd) -o $@ $< \
		$(call pc_libs,libsystemd,-lsystemd)

# arbord with failure injection (daemon/faults.c with -DARB_FAULTS), for
# the tests that make its core fail; sanitized like arbord, never installed.
FAULTS_ARBORD := tests/integration/helpers/arbord-faults
FAULTS_OBJ := tests/integration/helpers/faults.o
$(FAULTS_OBJ): daemon/faults.c $(HEADERS) Makefile $(FLAGS_STAMP)
	$(CC) $(CPPFLAGS) -DARB_FAULTS $(ALL_CFLAGS) -c -o $@ $<
$(FAULTS_ARBORD): $(filter-out daemon/faults.o,$(DAEMON_OBJS)) $(FAULTS_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

# The spawner with the faults of the test build (ARBOR_FAULT_CLONE3).
SPAWN_TEST_OBJS := daemon/spawn.o $(FAULTS_OBJ) daemon/core/mem.o
tests/unit/test_spawn: tests/unit/test_spawn.c $(SPAWN_TEST_OBJS)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(SPAWN_TEST_OBJS) \
		$(LDFLAGS) $(CMOCKA_LIBS)

# arbord and arborctl for the boot tests' initramfs: never sanitized,
# whatever SANITIZE says (ASan reads /proc, which arbord as init mounts only
# once it runs), /etc as the configuration directory, as an install with
# PREFIX=/usr has, and objects of their own beside them.
BOOT_DIR := tests/boot/build
BOOT_CPPFLAGS = $(filter-out -DARB_SYSCONFDIR=%,$(CPPFLAGS)) \
	-DARB_SYSCONFDIR='"/etc"'
BOOT_CFLAGS = -std=c11 $(WARN) $(CFLAGS)
BOOT_LDFLAGS = $(filter-out $(SAN),$(LDFLAGS))
BOOT_DAEMON_OBJS := $(addprefix $(BOOT_DIR)/obj/,$(DAEMON_OBJS))
BOOT_CTL_OBJS := $(addprefix $(BOOT_DIR)/obj/,$(CTL_OBJS))
BOOT_STAMP := .boot-build-flags
BOOT_FLAGS_NOW = $(CC) $(BOOT_CPPFLAGS) $(BOOT_CFLAGS) $(BOOT_LDFLAGS)
$(shell printf '%s\n' '$(BOOT_FLAGS_NOW)' | cmp -s - $(BOOT_STAMP) || \
	printf '%s\n' '$(BOOT_FLAGS_NOW)' > $(BOOT_STAMP))
$(BOOT_STAMP): ;

$(BOOT_DIR)/obj/%.o: %.c $(HEADERS) Makefile $(BOOT_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BOOT_CPPFLAGS) $(BOOT_CFLAGS) $(DEP_CFLAGS) -c -o $@ $<

$(BOOT_DIR)/arbord: $(BOOT_DAEMON_OBJS)
	$(CC) $(BOOT_LDFLAGS) -o $@ $(BOOT_DAEMON_OBJS) $(DEP_LIBS)

$(BOOT_DIR)/arborctl: $(BOOT_CTL_OBJS)
	$(CC) $(BOOT_LDFLAGS) -o $@ $(BOOT_CTL_OBJS) $(SYSTEMD_LIBS) \
		$(JANSSON_LIBS)

# A helper of the limits scenarios, run in the guest (its libc is arbord's).
$(BOOT_DIR)/memhog: tests/boot/helpers/memhog.c
	@mkdir -p $(@D)
	$(CC) $(BOOT_CFLAGS) $(BOOT_LDFLAGS) -o $@ $<

boot-bins: $(BOOT_DIR)/arbord $(BOOT_DIR)/arborctl $(BOOT_DIR)/memhog

check: unit golden pytest

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; ./$$t; done

golden: daemon/arbord
	sh tests/golden/run.sh

# One pytest run for every suite, so its summary is the last line of make
# check. ARBOR_SANITIZE tells the tests that timings and memory are the
# sanitizers'. The boot tests skip, saying why, without qemu or a kernel;
# the packaging tests (tests/packaging: the units through systemd-analyze,
# the Dockerfile and the pod manifest, make install, the .deb built
# from a clean clone of HEAD, with lintian, installed in a Debian guest
# booted under qemu with systemd as PID 1, and arbord as the init of a
# container that crun or podman runs) without the tools they use.
pytest: daemon/arbord ctl/arborctl $(HELPERS) $(FAULTS_ARBORD) boot-bins
	ARBOR_SANITIZE=$(SANITIZE) $(PYTEST) -q tests/integration \
		tests/conformance tests/boot tests/packaging

packaging-check: daemon/arbord ctl/arborctl
	$(PYTEST) -q tests/packaging

boot: boot-bins
	$(PYTEST) -q tests/boot

bench-boot: boot-bins
	/usr/bin/python3 tests/bench/boot_time.py

# The README's small-system quick start: VM_CONFIG as the tree of a system
# whose init is arbord (an initramfs with busybox), booted under qemu with
# its console on this terminal, where root logs in without a password.
# `arborctl poweroff` ends it (or Ctrl-A X). tests/boot/test_vm.py runs it.
VM_CONFIG ?= conf.d/embedded/arbor.conf
vm: boot-bins
	/usr/bin/python3 tests/boot/initramfs.py --gzip --login \
		--config $(VM_CONFIG) $(BOOT_DIR)/vm.cpio.gz
	/usr/bin/python3 tests/boot/qemu.py --terminal $(BOOT_DIR)/vm.cpio.gz

integration: daemon/arbord ctl/arborctl $(HELPERS) $(FAULTS_ARBORD)
	ARBOR_SANITIZE=$(SANITIZE) $(PYTEST) -q tests/integration

conformance: daemon/arbord ctl/arborctl
	ARBOR_SANITIZE=$(SANITIZE) $(PYTEST) -q tests/conformance

golden-update: daemon/arbord
	sh tests/golden/run.sh --update

# The pure core is the whole of daemon/core/: it includes only an allow-list
# of libc headers and its own headers (a quoted name must be a file of
# daemon/core/, or it would reach the shell's through -Idaemon), and reads
# no clock. mem.c alone may include <stdlib.h>: it is the core's allocator,
# malloc behind a failure-injection hook.
CORE_PURE := $(wildcard daemon/core/*.[ch])
lint:
	@bad=$$(grep -nE '^[[:space:]]*#[[:space:]]*include' $(CORE_PURE) | \
		grep -vE '<(stdint|stdbool|stddef|string)\.h>|"[a-z_]+\.h"' | \
		grep -vE '^daemon/core/mem\.c:[0-9]+:#include <stdlib\.h>'); \
	for h in $$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' \
		$(CORE_PURE) | sort -u); do \
		[ -f daemon/core/$$h ] || bad="$$bad $$h (not in daemon/core/)"; done; \
	if [ -n "$$bad" ]; then \
		echo "lint: the pure core includes a forbidden header:"; \
		echo "$$bad"; exit 1; fi
	@bad=$$(grep -nE '\b(clock_gettime|clock|gettimeofday|time|ev_now|ev_time)[[:space:]]*\(' \
		$(CORE_PURE) | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)'); \
	if [ -n "$$bad" ]; then \
		echo "lint: the pure core reads a clock:"; echo "$$bad"; exit 1; fi
	@echo "lint: the pure core is pure"
	mandoc -Tlint -Wwarning man/arbord.8 man/arbor.conf.5 man/arborctl.8
	bash -n packaging/bash-completion/arborctl
	@if command -v zsh >/dev/null; then \
		zsh -n packaging/zsh-completion/_arborctl && \
		echo "lint: zsh -n packaging/zsh-completion/_arborctl"; \
	else echo "lint: no zsh, its completion is not checked"; fi
	@if command -v fish >/dev/null; then \
		fish -n packaging/fish-completion/arborctl.fish && \
		echo "lint: fish -n packaging/fish-completion/arborctl.fish"; \
	else echo "lint: no fish, its completion is not checked"; fi

# The live configuration runs nothing (packaging/arbor.conf: the example
# tree of conf.d/ is documentation, in EXAMPLEDIR), and one that is there
# is the administrator's: it is never replaced.
LIVE_CONF = $(DESTDIR)$(SYSCONFDIR)/arbor/arbor.conf
install: daemon/arbord ctl/arborctl
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSCONFDIR)/arbor/conf.d $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(EXAMPLEDIR)/conf.d \
		$(DESTDIR)$(EXAMPLEDIR)/embedded
	install -m 755 daemon/arbord $(DESTDIR)$(SBINDIR)/arbord
	install -m 755 ctl/arborctl $(DESTDIR)$(BINDIR)/arborctl
	install -m 644 man/arbord.8 $(DESTDIR)$(MANDIR)/man8/arbord.8
	install -m 644 man/arborctl.8 $(DESTDIR)$(MANDIR)/man8/arborctl.8
	install -m 644 packaging/bash-completion/arborctl \
		$(DESTDIR)$(BASHCOMPDIR)/arborctl
	install -m 644 packaging/zsh-completion/_arborctl \
		$(DESTDIR)$(ZSHCOMPDIR)/_arborctl
	install -m 644 packaging/fish-completion/arborctl.fish \
		$(DESTDIR)$(FISHCOMPDIR)/arborctl.fish
	install -m 644 man/arbor.conf.5 $(DESTDIR)$(MANDIR)/man5/arbor.conf.5
	sed -e 's|^ExecStart=/usr/local/sbin/|ExecStart=$(SBINDIR)/|' \
		-e 's|^ExecReload=/usr/local/bin/|ExecReload=$(BINDIR)/|' \
		packaging/arbord.service > $(DESTDIR)$(SYSTEMDUNITDIR)/arbord.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/arbord.service
	install -m 644 packaging/arbord.socket \
		$(DESTDIR)$(SYSTEMDUNITDIR)/arbord.socket
	install -m 644 conf.d/arbor.conf $(DESTDIR)$(EXAMPLEDIR)/arbor.conf
	install -m 644 conf.d/conf.d/*.conf $(DESTDIR)$(EXAMPLEDIR)/conf.d/
	install -m 644 conf.d/embedded/arbor.conf \
		$(DESTDIR)$(EXAMPLEDIR)/embedded/arbor.conf
	test -e $(LIVE_CONF) || { \
		sed -e 's|/usr/share/doc/arbor/examples|$(EXAMPLEDIR)|' \
		packaging/arbor.conf > $(LIVE_CONF) && chmod 644 $(LIVE_CONF); }

# The Debian package from a copy of the tree (packaging/build-deb): the
# .deb, .changes and .buildinfo in DEB_DIR.
DEB_DIR ?= build/deb
deb:
	packaging/build-deb $(DEB_DIR)

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/arbord $(DESTDIR)$(MANDIR)/man8/arbord.8 \
		$(DESTDIR)$(MANDIR)/man5/arbor.conf.5 \
		$(DESTDIR)$(BINDIR)/arborctl $(DESTDIR)$(MANDIR)/man8/arborctl.8 \
		$(DESTDIR)$(BASHCOMPDIR)/arborctl \
		$(DESTDIR)$(ZSHCOMPDIR)/_arborctl \
		$(DESTDIR)$(FISHCOMPDIR)/arborctl.fish \
		$(DESTDIR)$(SYSTEMDUNITDIR)/arbord.service \
		$(DESTDIR)$(SYSTEMDUNITDIR)/arbord.socket
	rm -f $(DESTDIR)$(EXAMPLEDIR)/arbor.conf \
		$(DESTDIR)$(EXAMPLEDIR)/embedded/arbor.conf \
		$(addprefix $(DESTDIR)$(EXAMPLEDIR)/conf.d/,$(notdir $(wildcard conf.d/conf.d/*.conf)))
	-rmdir $(DESTDIR)$(EXAMPLEDIR)/conf.d $(DESTDIR)$(EXAMPLEDIR)/embedded \
		$(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(patsubst %/,%,$(dir $(EXAMPLEDIR)))

# libFuzzer on the config loader, for FUZZ_SECONDS, seeded with the golden
# configurations. Needs clang with libFuzzer (Debian: clang, libclang-rt-dev).
FUZZ_SECONDS ?= 60
FUZZ_SRCS := tests/fuzz/config_fuzz.c $(CONFIG_SRCS) daemon/core/spec.c \
	daemon/core/cg_limits.c daemon/core/spec_edit.c \
	daemon/core/mem.c daemon/signames.c
tests/fuzz/config_fuzz: $(FUZZ_SRCS) $(HEADERS)
	clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		$(DEP_CFLAGS) -o $@ $(FUZZ_SRCS) $(call pc_libs,libconfig,-lconfig)

tests/fuzz/wire_fuzz: tests/fuzz/wire_fuzz.c common/wire.c common/wire.h \
		common/protocol.h
	clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		$(JANSSON_CFLAGS) -o $@ tests/fuzz/wire_fuzz.c common/wire.c \
		$(JANSSON_LIBS)

tests/fuzz/notify_fuzz: tests/fuzz/notify_fuzz.c daemon/notify.c daemon/fdutil.c \
		daemon/notify.h
	clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-o $@ tests/fuzz/notify_fuzz.c daemon/notify.c daemon/fdutil.c \
		$(call pc_libs,libev,-lev)

# The re-exec state's reader: the container and the spec codec.
# The whole reader, as a resume runs it: every daemon source but main.c.
STATE_FUZZ_SRCS := tests/fuzz/state_fuzz.c $(CORE_SRCS) \
	$(filter-out daemon/main.c,$(SHELL_SRCS))
tests/fuzz/state_fuzz: $(STATE_FUZZ_SRCS) $(HEADERS) tests/fuzz/state_holders.h
	clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		$(DEP_CFLAGS) -o $@ $(STATE_FUZZ_SRCS) $(DEP_LIBS)

fuzz: tests/fuzz/config_fuzz tests/fuzz/wire_fuzz tests/fuzz/notify_fuzz \
		tests/fuzz/state_fuzz
	rm -rf tests/fuzz/corpus && mkdir -p tests/fuzz/corpus
	cp tests/golden/*.conf tests/fuzz/corpus/
	LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
		tests/fuzz/config_fuzz -max_total_time=$(FUZZ_SECONDS) \
		-max_len=4096 tests/fuzz/corpus
	rm -rf tests/fuzz/wire_corpus && mkdir -p tests/fuzz/wire_corpus
	cp tests/fuzz/wire_seeds/* tests/fuzz/wire_corpus/
	tests/fuzz/wire_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		tests/fuzz/wire_corpus
	tests/fuzz/notify_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096
	rm -rf tests/fuzz/state_corpus && mkdir -p tests/fuzz/state_corpus
	cp tests/fuzz/state_seeds/* tests/unit/fixtures/state-v1.state \
		tests/fuzz/state_corpus/
	tests/fuzz/state_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		tests/fuzz/state_corpus

bench: daemon/arbord boot-bins
	$(MAKE) -C tests/bench
	/usr/bin/python3 tests/bench/run.py
	/usr/bin/python3 tests/bench/logs_bench.py
	/usr/bin/python3 tests/bench/living_bench.py
	/usr/bin/python3 tests/bench/reexec_bench.py
	/usr/bin/python3 tests/bench/growth_bench.py
	/usr/bin/python3 tests/bench/escape_bench.py
	/usr/bin/python3 tests/bench/cgroup_bench.py

clean:
	rm -f daemon/*.o daemon/*/*.o common/*.o ctl/*.o daemon/arbord ctl/arborctl \
		$(UNIT_TESTS) $(FLAGS_STAMP) tests/fuzz/config_fuzz \
		tests/fuzz/wire_fuzz tests/fuzz/notify_fuzz tests/fuzz/state_fuzz \
		tests/bench/spec_json_bench tests/bench/render_bench \
		tests/bench/spawn_cgroup_bench \
		$(HELPERS) \
		$(FAULTS_ARBORD) $(FAULTS_OBJ) \
		$(BOOT_STAMP)
	rm -rf tests/fuzz/corpus tests/fuzz/wire_corpus tests/fuzz/state_corpus \
		$(BOOT_DIR)
	$(MAKE) -C tests/bench clean 2>/dev/null || true
