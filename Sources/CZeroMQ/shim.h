#ifndef GRAINSWEEP_CZEROMQ_SHIM_H
#define GRAINSWEEP_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
