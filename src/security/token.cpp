// Placeholder: being written.
#include "plexus/security.hpp"
