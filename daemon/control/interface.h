/*
 * interface.h - the varlink interface description of org.arbor.supervisor.
 */
#ifndef ARB_INTERFACE_H
#define ARB_INTERFACE_H

extern const char arb_interface_description[];

/* varlink's own interface, which every service implements. */
extern const char arb_varlink_service_description[];

#endif
