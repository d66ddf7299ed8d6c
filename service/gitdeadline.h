/*
 * gitdeadline.h - the deadline of one whole fetch or push
 * (PREVIEWD_GIT_TIMEOUT).
 *
 * The socket timeouts of gitstream.h bound each read and write; a server
 * that answers one byte a second passes every one of them and holds the Git
 * writer for as long as it likes.  The deadline bounds the whole operation:
 * pusher.c sets it before git_remote_fetch or git_remote_push and clears it
 * after; the stream's read and write (gitstream.c) and libgit2's progress
 * callbacks (pusher.c, for the transports that do not use that stream) ask
 * whether it has passed and end the operation with a named error.
 *
 * The deadline is per thread (the Git writer, or the main thread in
 * `previewd recover` and `previewd check`), so that one operation's
 * deadline never ends another's.
 */
#ifndef PV_GITDEADLINE_H
#define PV_GITDEADLINE_H

/* From now on, `what` ("fetch", "push") must end within ms milliseconds
 * (ms <= 0: no deadline).  `what` must outlive the deadline. */
void pv_gitdeadline_set(const char *what, long long ms);

void pv_gitdeadline_clear(void);

/* 1 once the deadline has passed, with libgit2's error set to say so (for
 * a stream or a callback to return -1); 0 otherwise. */
int pv_gitdeadline_passed(void);

/* Whether the last operation on this thread ended because its deadline
 * passed (until the next pv_gitdeadline_set). */
int pv_gitdeadline_hit(void);

#endif
