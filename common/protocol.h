/*
 * protocol.h - the control protocol shared by arbord and arborctl.
 *
 * varlink's wire conventions (DESIGN.md "Control protocol"): each message
 * is one JSON object followed by a NUL byte. A call is
 *   {"method":"org.arbor.supervisor.Status","parameters":{...}}
 * optionally with "more":true (a stream) or "oneway":true (no reply).
 * A reply is {"parameters":{...}}, with "continues":true on every reply of
 * a stream but the last, or {"error":"NAME","parameters":{...}}.
 * The interface itself is described in daemon/control/interface.c.
 */
#ifndef ARB_PROTOCOL_H
#define ARB_PROTOCOL_H

/* The largest message either side accepts, NUL excluded. */
#define ARB_MSG_MAX (64 * 1024)

/*
 * Except a reply, which arborctl accepts up to this size: a Status of the
 * whole tree takes about 130 bytes a node, so 1000 services already pass
 * ARB_MSG_MAX, and ARB_NODES_MAX of them with long paths need megabytes.
 * Calls stay small; only the side that reads replies raises its limit.
 */
#define ARB_REPLY_MAX (64 * 1024 * 1024)

#define ARB_INTERFACE "org.arbor.supervisor"

#define ARB_METHOD_STATUS ARB_INTERFACE ".Status"
#define ARB_METHOD_SHOW ARB_INTERFACE ".Show"
#define ARB_METHOD_START ARB_INTERFACE ".Start"
#define ARB_METHOD_STOP ARB_INTERFACE ".Stop"
#define ARB_METHOD_RESTART ARB_INTERFACE ".Restart"
#define ARB_METHOD_SIGNAL ARB_INTERFACE ".Signal"
#define ARB_METHOD_EVENTS ARB_INTERFACE ".Events"
#define ARB_METHOD_SHUTDOWN ARB_INTERFACE ".Shutdown"
#define ARB_METHOD_LOGS ARB_INTERFACE ".Logs"
#define ARB_METHOD_REOPEN_LOGS ARB_INTERFACE ".ReopenLogs"
#define ARB_METHOD_RELOAD ARB_INTERFACE ".Reload"
#define ARB_METHOD_ADD_CHILD ARB_INTERFACE ".AddChild"
#define ARB_METHOD_REMOVE_CHILD ARB_INTERFACE ".RemoveChild"
#define ARB_METHOD_SPAWN ARB_INTERFACE ".Spawn"
#define ARB_METHOD_REEXEC ARB_INTERFACE ".Reexec"

#define ARB_METHOD_GET_INFO "org.varlink.service.GetInfo"
#define ARB_METHOD_GET_INTERFACE "org.varlink.service.GetInterfaceDescription"

/* varlink's own errors. */
#define ARB_ERR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define ARB_ERR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define ARB_ERR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"
#define ARB_ERR_EXPECTED_MORE "org.varlink.service.ExpectedMore"
#define ARB_ERR_PERMISSION_DENIED "org.varlink.service.PermissionDenied"

/* arbor's errors. */
#define ARB_ERR_NO_SUCH_CHILD ARB_INTERFACE ".NoSuchChild"
#define ARB_ERR_NOT_RUNNING ARB_INTERFACE ".NotRunning"
#define ARB_ERR_ALREADY_RUNNING ARB_INTERFACE ".AlreadyRunning"
#define ARB_ERR_RESTARTING ARB_INTERFACE ".Restarting"
#define ARB_ERR_START_FAILED ARB_INTERFACE ".StartFailed"
#define ARB_ERR_SHUTTING_DOWN ARB_INTERFACE ".ShuttingDown"
#define ARB_ERR_INVALID_PATH ARB_INTERFACE ".InvalidPath"
#define ARB_ERR_TEMPORARY ARB_INTERFACE ".Temporary"
#define ARB_ERR_REOPEN_FAILED ARB_INTERFACE ".ReopenFailed"
#define ARB_ERR_NOT_INIT ARB_INTERFACE ".NotInit"
#define ARB_ERR_TOO_MANY_CLIENTS ARB_INTERFACE ".TooManyClients"
/* The living tree (Reload, AddChild, RemoveChild, Spawn). */
#define ARB_ERR_CONFIG_INVALID ARB_INTERFACE ".ConfigInvalid"
#define ARB_ERR_ALREADY_PRESENT ARB_INTERFACE ".AlreadyPresent"
#define ARB_ERR_NOT_A_SUPERVISOR ARB_INTERFACE ".NotASupervisor"
#define ARB_ERR_NOT_A_POOL ARB_INTERFACE ".NotAPool"
#define ARB_ERR_POOL_FULL ARB_INTERFACE ".PoolFull"
#define ARB_ERR_POOL_INSTANCE ARB_INTERFACE ".PoolInstance"
/* Reexec: refused or failed (step, reason); and the last reply of every
 * stream when arbord re-executes (from, to): reconnect. */
#define ARB_ERR_REEXEC_FAILED ARB_INTERFACE ".ReexecFailed"
#define ARB_ERR_REEXECUTING ARB_INTERFACE ".Reexecuting"

/* Reexec's timeout (milliseconds): the default and the bounds. */
#define ARB_REEXEC_TIMEOUT_MS 10000
#define ARB_REEXEC_TIMEOUT_MIN_MS 1
#define ARB_REEXEC_TIMEOUT_MAX_MS 600000

#endif
