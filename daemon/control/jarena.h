/*
 * jarena.h - an arena for jansson while one reply is built.
 *
 * A Status of a large tree makes thousands of small JSON objects that all
 * die together a moment later; from malloc, their allocation, freeing and
 * the heap consolidation that follows were a third of the call. Between
 * begin and end, jansson allocates from large blocks and frees nothing;
 * end gives the blocks back. Nothing allocated by jansson before begin may
 * be freed before end, nor anything allocated in between kept after it.
 * One emptied block stays allocated between replies.
 */
#ifndef ARB_JARENA_H
#define ARB_JARENA_H

void arb_jarena_begin(void);
void arb_jarena_end(void);

#endif
