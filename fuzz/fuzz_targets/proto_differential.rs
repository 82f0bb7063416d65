//! Differential: the hand-written views against prost's generated decoder.
//! Both must accept or reject the same bytes, and agree on the value; our
//! encoding of an accepted value must equal prost's.
#![no_main]

use arkwire::proto::{ArkoudaRequest, ArkoudaRequestRef, ArkoudaResponse, ArkoudaResponseRef};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let ours = ArkoudaRequestRef::decode(data);
    let theirs = ArkoudaRequest::decode(data);
    match (&ours, &theirs) {
        (Ok(view), Ok(owned)) => {
            assert_eq!(&view.to_owned(), owned, "request values differ");
            let mut mine = Vec::new();
            view.encode(&mut mine).unwrap();
            assert_eq!(mine, owned.encode_to_vec(), "request encodings differ");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("request accept/reject differs: ours {ours:?}, prost {theirs:?}"),
    }

    let ours = ArkoudaResponseRef::decode(data);
    let theirs = ArkoudaResponse::decode(data);
    match (&ours, &theirs) {
        (Ok(view), Ok(owned)) => {
            assert_eq!(&view.to_owned(), owned, "response values differ");
            let mut mine = Vec::new();
            view.encode(&mut mine).unwrap();
            assert_eq!(mine, owned.encode_to_vec(), "response encodings differ");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("response accept/reject differs: ours {ours:?}, prost {theirs:?}"),
    }
});
