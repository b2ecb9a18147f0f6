// The crypto core builds on CaucusIdentity (keys, signatures, DIDs, hashing, randomness);
// whoever imports CaucusCrypto gets both.
@_exported import CaucusIdentity
