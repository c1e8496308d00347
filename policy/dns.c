#include "config.h"

#include "dns.h"
