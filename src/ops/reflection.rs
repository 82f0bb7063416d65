//! Server reflection (`grpc.reflection.v1` and `v1alpha`): generic gRPC
//! tools list the services and fetch `arkouda.proto`'s descriptor, so they
//! can call `HandleRequest` without the schema file.
//!
//! `ServerReflectionInfo` is a bidirectional stream of requests and
//! answers, one answer per request; [`answer`] maps one request's bytes to
//! its answer's bytes.

use alloc::string::String;
use alloc::vec::Vec;
use prost::Message;

/// `ServerReflectionInfo` of the current version.
pub const V1_PATH: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
/// `ServerReflectionInfo` of the version many tools still use.
pub const V1ALPHA_PATH: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// The descriptor of proto/arkouda.proto and the symbols it defines, from
// build.rs (compiled with protox, as the message types are).
include!(concat!(env!("OUT_DIR"), "/reflection.rs"));

/// The services a server with health and reflection offers, by full name.
pub const SERVICES: [&str; 4] = [
    "arkouda.Arkouda",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// `ServerReflectionRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerReflectionRequest {
    /// The host the client asks about.
    #[prost(string, tag = "1")]
    pub host: String,
    /// What is asked.
    #[prost(oneof = "Ask", tags = "3, 4, 5, 6, 7")]
    pub ask: Option<Ask>,
}

/// `ServerReflectionRequest.message_request`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Ask {
    /// The file with this name.
    #[prost(string, tag = "3")]
    FileByFilename(String),
    /// The file that defines this fully qualified symbol.
    #[prost(string, tag = "4")]
    FileContainingSymbol(String),
    /// The file that defines an extension.
    #[prost(message, tag = "5")]
    FileContainingExtension(ExtensionRequest),
    /// The extension numbers of a message type.
    #[prost(string, tag = "6")]
    AllExtensionNumbersOfType(String),
    /// The services (the value is ignored).
    #[prost(string, tag = "7")]
    ListServices(String),
}

/// `ExtensionRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtensionRequest {
    /// The extended type.
    #[prost(string, tag = "1")]
    pub containing_type: String,
    /// The extension's number.
    #[prost(int32, tag = "2")]
    pub extension_number: i32,
}

/// `ServerReflectionResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerReflectionResponse {
    /// The host asked about.
    #[prost(string, tag = "1")]
    pub valid_host: String,
    /// The request answered.
    #[prost(message, optional, tag = "2")]
    pub original_request: Option<ServerReflectionRequest>,
    /// The answer.
    #[prost(oneof = "Answer", tags = "4, 5, 6, 7")]
    pub answer: Option<Answer>,
}

/// `ServerReflectionResponse.message_response`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Answer {
    /// Serialized `FileDescriptorProto`s.
    #[prost(message, tag = "4")]
    FileDescriptorResponse(FileDescriptorResponse),
    /// Extension numbers of a type.
    #[prost(message, tag = "5")]
    AllExtensionNumbersResponse(ExtensionNumberResponse),
    /// The services.
    #[prost(message, tag = "6")]
    ListServicesResponse(ListServiceResponse),
    /// Why there is no answer.
    #[prost(message, tag = "7")]
    ErrorResponse(ErrorResponse),
}

/// `FileDescriptorResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FileDescriptorResponse {
    /// Each a serialized `google.protobuf.FileDescriptorProto`.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub file_descriptor_proto: Vec<Vec<u8>>,
}

/// `ExtensionNumberResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtensionNumberResponse {
    /// The type asked about.
    #[prost(string, tag = "1")]
    pub base_type_name: String,
    /// Its extension numbers (arkwire's messages have none).
    #[prost(int32, repeated, tag = "2")]
    pub extension_number: Vec<i32>,
}

/// `ListServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListServiceResponse {
    /// The services.
    #[prost(message, repeated, tag = "1")]
    pub service: Vec<ServiceResponse>,
}

/// `ServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceResponse {
    /// Fully qualified name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `ErrorResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorResponse {
    /// A gRPC status code.
    #[prost(int32, tag = "1")]
    pub error_code: i32,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// The answer to one `ServerReflectionRequest`, or `None` when the bytes
/// are not one (the stream then ends INVALID_ARGUMENT).
pub fn answer(request: &[u8]) -> Option<Vec<u8>> {
    let request = ServerReflectionRequest::decode(request).ok()?;
    let not_found = |what: &str| {
        Answer::ErrorResponse(ErrorResponse {
            error_code: crate::grpc::Code::NotFound as i32,
            error_message: alloc::format!("{what} is not known to this server"),
        })
    };
    let arkouda_file = || {
        Answer::FileDescriptorResponse(FileDescriptorResponse {
            file_descriptor_proto: alloc::vec![ARKOUDA_DESCRIPTOR.to_vec()],
        })
    };
    let answer = match &request.ask {
        Some(Ask::ListServices(_)) => Answer::ListServicesResponse(ListServiceResponse {
            service: SERVICES
                .iter()
                .map(|name| ServiceResponse {
                    name: (*name).into(),
                })
                .collect(),
        }),
        Some(Ask::FileByFilename(name)) if name == ARKOUDA_FILE => arkouda_file(),
        Some(Ask::FileContainingSymbol(symbol)) if ARKOUDA_SYMBOLS.contains(&symbol.as_str()) => {
            arkouda_file()
        }
        Some(Ask::AllExtensionNumbersOfType(name)) if ARKOUDA_SYMBOLS.contains(&name.as_str()) => {
            Answer::AllExtensionNumbersResponse(ExtensionNumberResponse {
                base_type_name: name.clone(),
                extension_number: Vec::new(),
            })
        }
        Some(Ask::FileByFilename(name))
        | Some(Ask::FileContainingSymbol(name))
        | Some(Ask::AllExtensionNumbersOfType(name)) => not_found(name),
        Some(Ask::FileContainingExtension(e)) => not_found(&e.containing_type),
        None => not_found("an empty request"),
    };
    Some(
        ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            answer: Some(answer),
        }
        .encode_to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(ask: Ask) -> Answer {
        let bytes = ServerReflectionRequest {
            host: "h".into(),
            ask: Some(ask),
        }
        .encode_to_vec();
        let reply = ServerReflectionResponse::decode(&answer(&bytes).unwrap()[..]).unwrap();
        assert_eq!(reply.valid_host, "h");
        reply.answer.unwrap()
    }

    #[test]
    fn services_files_and_symbols_are_found() {
        let Answer::ListServicesResponse(list) = ask(Ask::ListServices(String::new())) else {
            panic!("no list")
        };
        assert_eq!(list.service[0].name, "arkouda.Arkouda");
        for symbol in [
            "arkouda.Arkouda",
            "arkouda.Arkouda.HandleRequest",
            "arkouda.ArkoudaRequest",
            "arkouda.ArkoudaResponse",
        ] {
            let Answer::FileDescriptorResponse(files) =
                ask(Ask::FileContainingSymbol(symbol.into()))
            else {
                panic!("{symbol} not found")
            };
            // A FileDescriptorProto starts with field 1, its name.
            let file = &files.file_descriptor_proto[0];
            assert_eq!(&file[..2], &[0x0a, ARKOUDA_FILE.len() as u8]);
            assert_eq!(&file[2..2 + ARKOUDA_FILE.len()], ARKOUDA_FILE.as_bytes());
        }
        assert!(matches!(
            ask(Ask::FileContainingSymbol("no.Such".into())),
            Answer::ErrorResponse(ErrorResponse { error_code: 5, .. })
        ));
        assert!(answer(&[0xff, 0xff]).is_none());
    }
}
