//! One actor per remote: upstream client, circuit breaker, freshness and coalescing.
