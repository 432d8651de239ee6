#ifndef GRAINSWEEP_CZEROMQ_SHIM_H
#define GRAINSWEEP_CZEROMQ_SHIM_H
// zmq.h from /usr/include (libzmq3-dev, 4.3.x). Everything we call is importable as is; helpers that
// Swift cannot express (none yet) go here as static inline functions.
#include <zmq.h>
#endif
