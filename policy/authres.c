#include "config.h"

#include "authres.h"
