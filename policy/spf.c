#include "config.h"

#include "spf.h"
