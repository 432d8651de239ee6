#ifndef GRAINSWEEP_CEPOLL_SHIM_H
#define GRAINSWEEP_CEPOLL_SHIM_H
#include <sys/epoll.h>
#endif
