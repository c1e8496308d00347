#include "config.h"

#include "from.h"
