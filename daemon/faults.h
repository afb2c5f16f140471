/*
 * faults.h - failure injection for the tests, read from the environment
 * only by the test build (tests/integration/helpers/arbord-faults, made
 * with -DARB_FAULTS). In arbord itself each function does nothing, and
 * no variable is read: a user's environment cannot make arbord fail.
 */
#ifndef ARB_FAULTS_H
#define ARB_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Called just before the tree boots: with ARBOR_FAULT_CORE_ALLOC=N the
 * Nth allocation of the core from then on fails (mem.h's hook).
 */
void arb_faults_arm_core(void);

/*
 * The capacity of one of the runtime's event queues: cap, or
 * ARBOR_FAULT_QUEUE_CAP, so that they overflow.
 */
uint32_t arb_faults_queue_cap(uint32_t cap);

/* Whether a full event queue may grow: not with ARBOR_FAULT_QUEUE_GROW=0,
 * as if memory had run out. */
bool arb_faults_queue_may_grow(void);

/*
 * Whether the new image of a re-exec fails to take the state over (with
 * ARBOR_FAULT_RESUME=1), after it took the control socket: its fallback
 * is tested with a state the probe found good.
 */
bool arb_faults_resume_fails(void);

/*
 * The errno with which clone3 fails before it is called (spawn.c), from
 * ARBOR_FAULT_CLONE3: 38 (ENOSYS) as before Linux 5.3, 7 (E2BIG) as
 * before 5.7, so that the children move themselves into their cgroups.
 * 0: clone3 is called.
 */
int arb_faults_clone3_error(void);

/*
 * Whether cgroup.kill is taken as missing (ARBOR_FAULT_NO_CGROUP_KILL=1),
 * as before Linux 5.14: a leaf is then frozen and its processes killed
 * one by one (cgroup.c).
 */
bool arb_faults_no_cgroup_kill(void);

#endif
