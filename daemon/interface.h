/*
 * interface.h - the varlink interface description of org.arbor.Supervisor.
 */
#ifndef ARB_INTERFACE_H
#define ARB_INTERFACE_H

extern const char arb_interface_description[];

#endif
