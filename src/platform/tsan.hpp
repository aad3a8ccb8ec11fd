// Telling ThreadSanitizer about reads that copy memory other threads may be writing on
// purpose, as the kernel's copy-on-write at fork() or a page migration does: the copy is
// either taken while no writer can store (a fence, fork's locks) or checked afterwards, and
// ThreadSanitizer cannot see the syscalls (mprotect, futex) that order it. Nothing outside
// ThreadSanitizer builds.
#pragma once

#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreReadsBegin(const char *file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char *file, int line);
#define TM_COPY_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define TM_COPY_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define TM_COPY_READS_BEGIN() ((void)0)
#define TM_COPY_READS_END() ((void)0)
#endif
