// Linux's epoll, which Swift's Glibc module does not export, for caucus-bench-relay's lean
// load generator. epoll_pwait2 (Linux 5.11, glibc 2.35) takes its timeout as a timespec.
#include <sys/epoll.h>
