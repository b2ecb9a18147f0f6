#ifndef CAUCUS_CSODIUM_SHIM_H
#define CAUCUS_CSODIUM_SHIM_H
#include <sodium.h>
#endif
