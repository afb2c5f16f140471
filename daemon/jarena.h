/*
 * jarena.h - an arena for jansson while many JSON values live together.
 *
 * A Status of a large tree makes thousands of small JSON objects that all
 * die together a moment later; from malloc, their allocation, freeing and
 * the heap consolidation that follows were a third of the call. A re-exec
 * state (state/) makes hundreds of thousands, read while the new image
 * makes the structures it keeps: from malloc they would leave its heap in
 * pieces that never go back to the system. Between begin and end, jansson
 * allocates from large blocks of their own and frees nothing; end gives
 * the blocks back. Nothing allocated by jansson before begin may be freed
 * before end, nor anything allocated in between kept after it; no nesting.
 */
#ifndef ARB_JARENA_H
#define ARB_JARENA_H

#include <stdbool.h>

void arb_jarena_begin(void);

/*
 * Every block goes back to the system, but for one emptied block kept for
 * the next begin when keep_one (a reply: one comes after another).
 */
void arb_jarena_end(bool keep_one);

#endif
