use super::*;

/// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
#[test]
fn hmac_matches_rfc_4231() {
    assert_eq!(
        hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex::encode(hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn keys_are_random_redacted_and_round_trip() {
    let (a, b) = (
        FingerprintKey::generate().unwrap(),
        FingerprintKey::generate().unwrap(),
    );
    assert_ne!(a, b);
    assert_ne!(a.fingerprint(b"x"), b.fingerprint(b"x"));
    assert_eq!(a.fingerprint(b"x").len(), 16);
    assert_eq!(FingerprintKey::from_hex(&a.to_hex()), Some(a.clone()));
    assert_eq!(FingerprintKey::from_hex("abcd"), None);
    let shown = format!("{a:?}");
    assert!(!shown.contains(&a.to_hex()[..8]), "{shown}");
}
