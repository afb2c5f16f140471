/*
 * jarena.h - an arena for jansson while many JSON values live together.
 *
 * A re-exec state (state/) makes hundreds of thousands of small JSON
 * values that all die together, read while the new image makes the
 * structures it keeps: from malloc they would leave its heap in pieces
 * that never go back to the system. Between begin and end, jansson
 * allocates from large blocks of their own and frees nothing; end gives
 * the blocks back. Nothing allocated by jansson before begin may be freed
 * before end, nor anything allocated in between kept after it; no nesting.
 */
#ifndef ARB_JARENA_H
#define ARB_JARENA_H

void arb_jarena_begin(void);

/* Every block goes back to the system. */
void arb_jarena_end(void);

#endif
