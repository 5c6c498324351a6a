//! Reading requests: bodies, query parameters and headers, with JSON 4xx errors for bad input.
