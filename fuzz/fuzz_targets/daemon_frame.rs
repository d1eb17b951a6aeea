//! The auth daemons' frames (`daemon_frame`) on arbitrary bytes. Checked:
//! - decoding never panics, whole frames or bare payloads, either kind;
//! - reading from a stream never allocates beyond the bound nor panics;
//! - whatever decodes encodes back to a frame that decodes to the same
//!   value (the encoder accepts everything the decoder does).
#![no_main]

use authnz_core::daemon_frame::{
    decode_reply, decode_request, encode_reply, encode_request, read_frame, reply_from_frame,
    request_from_frame,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(req) = request_from_frame(bytes) {
        let again = encode_request(&req).expect("a decoded request encodes");
        assert_eq!(request_from_frame(&again).expect("round trip"), req);
    }
    if let Ok(reply) = reply_from_frame(bytes) {
        let again = encode_reply(&reply).expect("a decoded reply encodes");
        assert_eq!(reply_from_frame(&again).expect("round trip"), reply);
    }
    if let Ok(req) = decode_request(bytes) {
        assert!(encode_request(&req).is_ok());
    }
    let _ = decode_reply(bytes);
    let mut stream = bytes;
    while let Ok(Some(_)) = read_frame(&mut stream) {}
});
