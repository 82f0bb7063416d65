//! RFC 7541 Appendix C vectors, hostile inputs and property tests.
