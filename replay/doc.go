// Package replay is the replay guard that replicas share through Redis: a
// nonce accepted by any replica is refused by all of them until its
// timestamp leaves the window. Each nonce is a 64-bit member of a small set
// of the nonces stamped in the same second, which expires whole when that
// second leaves the window; recording a request's nonces is one script,
// one round trip, so two replicas receiving the same nonce at the same
// moment cannot both accept it. It implements the interface the proxy takes
// for its replay guard, like the in-process crypto/nonce.Guard, and lives
// apart from crypto/, whose packages reach no network. Redis failures are
// refusals (nonce.ErrUnavailable), never acceptances, and so is Redis
// losing the nonces (a flush, a restart, eviction): a floor key that every
// script reads tells, and nonces stamped before the loss are refused as
// unverifiable.
package replay
