//! HTTP/1.1 message handling (RFC 9112): request heads, header rules,
//! body framing, and the response bytes the proxy writes.

pub mod body;
pub mod chunked;
pub mod headers;
pub mod request;
pub mod response;
pub mod url;

pub use body::{BodyDecoder, BodyError, BodyStep};
pub use headers::Header;
pub use request::{Limits, ParseError, RequestHead, Target, Version};
pub use url::{Authority, Scheme, Url};
