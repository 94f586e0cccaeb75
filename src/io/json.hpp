// The JSON reader's header is public (ember/io/json.hpp); this name stays for core sources.
#pragma once

#include "ember/io/json.hpp"
