#include "config.h"

#include "domain.h"
