//! SPDY/3.1 framing, the part kubectl's port-forward uses: control frames (SYN_STREAM, SYN_REPLY,
//! RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE) and DATA frames, with the
//! name/value header blocks compressed by one zlib stream per direction primed with SPDY/3's
//! dictionary. Parsing and encoding are pure; [`HeaderCodec`] holds the two zlib streams.

use std::collections::BTreeMap;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

const VERSION: u16 = 3;
const CONTROL_BIT: u8 = 0x80;
pub const FLAG_FIN: u8 = 0x01;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status: the stream is not known or not allowed.
pub const RST_PROTOCOL_ERROR: u32 = 1;

/// A frame larger than this is refused rather than buffered (SPDY allows 16 MiB).
const MAX_FRAME: usize = 1 << 24;
/// A decompressed header block larger than this is refused: the peer is not kubectl.
const MAX_HEADER_BLOCK: usize = 1 << 20;

/// One frame, with any header block still compressed (decompressing depends on every block
/// before it on the connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream: u32,
        fin: bool,
        headers: Vec<u8>,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Vec<u8>,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_stream: u32,
    },
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// SETTINGS, HEADERS, WINDOW_UPDATE and unknown control frames: nothing a port-forward needs.
    Ignored,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpdyError {
    #[error("SPDY version {0} is not supported (only 3)")]
    Version(u16),
    #[error("SPDY frame of {0} bytes is larger than the {MAX_FRAME} allowed")]
    TooLarge(usize),
    #[error("SPDY frame type {frame_type} is {length} bytes, too short")]
    Short { frame_type: u16, length: usize },
    #[error("SPDY header block is not valid: {0}")]
    HeaderBlock(String),
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The first frame of `buffer` and how many bytes it took, or `None` until it has all arrived.
pub fn parse(buffer: &[u8]) -> Result<Option<(Frame, usize)>, SpdyError> {
    if buffer.len() < 8 {
        return Ok(None);
    }
    let flags = buffer[4];
    let length = (u32_at(buffer, 4) & 0x00ff_ffff) as usize;
    if length > MAX_FRAME {
        return Err(SpdyError::TooLarge(length));
    }
    if buffer.len() < 8 + length {
        return Ok(None);
    }
    let payload = &buffer[8..8 + length];
    let fin = flags & FLAG_FIN != 0;
    if buffer[0] & CONTROL_BIT == 0 {
        let frame = Frame::Data {
            stream: u32_at(buffer, 0) & 0x7fff_ffff,
            fin,
            data: payload.to_vec(),
        };
        return Ok(Some((frame, 8 + length)));
    }
    let version = u16::from_be_bytes([buffer[0] & !CONTROL_BIT, buffer[1]]);
    if version != VERSION {
        return Err(SpdyError::Version(version));
    }
    let frame_type = u16::from_be_bytes([buffer[2], buffer[3]]);
    let least = match frame_type {
        SYN_STREAM => 10,
        SYN_REPLY | RST_STREAM | PING | GOAWAY => 4,
        _ => 0,
    };
    if length < least || (frame_type == RST_STREAM && length < 8) {
        return Err(SpdyError::Short { frame_type, length });
    }
    let stream = || u32_at(payload, 0) & 0x7fff_ffff;
    let frame = match frame_type {
        SYN_STREAM => Frame::SynStream {
            stream: stream(),
            fin,
            headers: payload[10..].to_vec(),
        },
        SYN_REPLY => Frame::SynReply {
            stream: stream(),
            fin,
            headers: payload[4..].to_vec(),
        },
        RST_STREAM => Frame::RstStream {
            stream: stream(),
            status: u32_at(payload, 4),
        },
        PING => Frame::Ping {
            id: u32_at(payload, 0),
        },
        GOAWAY => Frame::GoAway {
            last_stream: stream(),
        },
        SETTINGS | HEADERS | WINDOW_UPDATE => Frame::Ignored,
        _ => Frame::Ignored,
    };
    Ok(Some((frame, 8 + length)))
}

fn control(frame_type: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + payload.len());
    bytes.extend_from_slice(&(VERSION | 0x8000).to_be_bytes());
    bytes.extend_from_slice(&frame_type.to_be_bytes());
    bytes.extend_from_slice(&(payload.len() as u32 | (u32::from(flags) << 24)).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The bytes of `frame`; a header block in it must already be compressed.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let flag = |fin: bool| if fin { FLAG_FIN } else { 0 };
    match frame {
        Frame::SynStream {
            stream,
            fin,
            headers,
        } => {
            let mut payload = stream.to_be_bytes().to_vec();
            payload.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            payload.extend_from_slice(headers);
            control(SYN_STREAM, flag(*fin), &payload)
        }
        Frame::SynReply {
            stream,
            fin,
            headers,
        } => {
            let mut payload = stream.to_be_bytes().to_vec();
            payload.extend_from_slice(headers);
            control(SYN_REPLY, flag(*fin), &payload)
        }
        Frame::RstStream { stream, status } => {
            let mut payload = stream.to_be_bytes().to_vec();
            payload.extend_from_slice(&status.to_be_bytes());
            control(RST_STREAM, 0, &payload)
        }
        Frame::Ping { id } => control(PING, 0, &id.to_be_bytes()),
        Frame::GoAway { last_stream } => {
            let mut payload = last_stream.to_be_bytes().to_vec();
            payload.extend_from_slice(&0u32.to_be_bytes());
            control(GOAWAY, 0, &payload)
        }
        Frame::Data { stream, fin, data } => {
            let mut bytes = Vec::with_capacity(8 + data.len());
            bytes.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
            bytes.extend_from_slice(
                &(data.len() as u32 | (u32::from(flag(*fin)) << 24)).to_be_bytes(),
            );
            bytes.extend_from_slice(data);
            bytes
        }
        Frame::Ignored => Vec::new(),
    }
}

/// SPDY/3's zlib dictionary (draft 3, section 2.6.10.1): common header names, each after its
/// length as four big-endian bytes, then common values run together.
fn dictionary() -> Vec<u8> {
    const NAMES: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const VALUES: &[&str] = &[
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
        "203 Non-Authoritative Information",
        "204 No Content",
        "301 Moved Permanently",
        "400 Bad Request",
        "401 Unauthorized",
        "403 Forbidden",
        "404 Not Found",
        "500 Internal Server Error",
        "501 Not Implemented",
        "503 Service Unavailable",
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,",
        "text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch",
        "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
    ];
    let mut bytes = Vec::new();
    for name in NAMES {
        bytes.extend_from_slice(&(name.len() as u32).to_be_bytes());
        bytes.extend_from_slice(name.as_bytes());
    }
    for value in VALUES {
        bytes.extend_from_slice(value.as_bytes());
    }
    bytes
}

/// Header names (lower case) to values (several joined by NUL, as SPDY sends them).
pub type Headers = BTreeMap<String, String>;

/// The two header-compression streams of one connection.
pub struct HeaderCodec {
    dictionary: Vec<u8>,
    inflate: Decompress,
    deflate: Compress,
}

impl Default for HeaderCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCodec {
    pub fn new() -> Self {
        let dictionary = dictionary();
        let mut deflate = Compress::new(Compression::best(), true);
        deflate
            .set_dictionary(&dictionary)
            .expect("a new zlib stream takes a dictionary");
        HeaderCodec {
            dictionary,
            inflate: Decompress::new(true),
            deflate,
        }
    }

    /// The headers of the next compressed block the peer sent.
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let bad = |message: String| SpdyError::HeaderBlock(message);
        let mut plain = Vec::with_capacity(block.len() * 4 + 64);
        let mut consumed = 0;
        loop {
            if plain.capacity() - plain.len() < 256 {
                plain.reserve(plain.capacity().max(1024));
            }
            let (before, produced) = (self.inflate.total_in(), plain.len());
            let result =
                self.inflate
                    .decompress_vec(&block[consumed..], &mut plain, FlushDecompress::Sync);
            consumed += (self.inflate.total_in() - before) as usize;
            match result {
                Ok(Status::StreamEnd) => break,
                Ok(_) if consumed == block.len() && plain.len() < plain.capacity() => break,
                Ok(_) => {}
                Err(error) if error.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&self.dictionary)
                        .map_err(|e| bad(format!("dictionary refused: {e}")))?;
                }
                Err(error) => return Err(bad(error.to_string())),
            }
            if self.inflate.total_in() == before
                && plain.len() == produced
                && consumed < block.len()
            {
                return Err(bad("no progress decompressing".into()));
            }
            if plain.len() > MAX_HEADER_BLOCK {
                return Err(bad("larger than 1 MiB".into()));
            }
        }
        parse_headers(&plain)
    }

    /// `headers` as the next compressed block of this side.
    pub fn encode(&mut self, headers: &Headers) -> Vec<u8> {
        let mut plain = (headers.len() as u32).to_be_bytes().to_vec();
        for (name, value) in headers {
            for text in [name, value] {
                plain.extend_from_slice(&(text.len() as u32).to_be_bytes());
                plain.extend_from_slice(text.as_bytes());
            }
        }
        let mut block = Vec::with_capacity(plain.len() + 64);
        let mut consumed = 0;
        loop {
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(&plain[consumed..], &mut block, FlushCompress::Sync)
                .expect("compressing into memory does not fail");
            consumed += (self.deflate.total_in() - before) as usize;
            // A sync flush is complete once it left room unused.
            if consumed == plain.len() && block.len() < block.capacity() {
                return block;
            }
            block.reserve(block.capacity().max(64));
        }
    }
}

fn parse_headers(plain: &[u8]) -> Result<Headers, SpdyError> {
    let bad = |what: &str| SpdyError::HeaderBlock(format!("cut off in {what}"));
    if plain.len() < 4 {
        return Err(bad("the count"));
    }
    let count = u32_at(plain, 0);
    let mut at = 4;
    let mut read = |what: &str| -> Result<&[u8], SpdyError> {
        if plain.len() < at + 4 {
            return Err(bad(what));
        }
        let length = u32_at(plain, at) as usize;
        let text = plain
            .get(at + 4..at + 4 + length)
            .ok_or_else(|| bad(what))?;
        at += 4 + length;
        Ok(text)
    };
    let mut headers = Headers::new();
    for _ in 0..count {
        let name = String::from_utf8_lossy(read("a name")?).to_ascii_lowercase();
        let value = String::from_utf8_lossy(read("a value")?).into_owned();
        headers.insert(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_spdy3s() {
        let dictionary = dictionary();
        assert_eq!(dictionary.len(), 1423);
        assert_eq!(&dictionary[..11], b"\0\0\0\x07options");
        assert!(dictionary.ends_with(b"enq=0."));
    }

    #[test]
    fn frames_round_trip() {
        let frames = [
            Frame::SynStream {
                stream: 1,
                fin: false,
                headers: vec![1, 2, 3],
            },
            Frame::SynReply {
                stream: 3,
                fin: true,
                headers: vec![9],
            },
            Frame::RstStream {
                stream: 5,
                status: 5,
            },
            Frame::Ping { id: 7 },
            Frame::GoAway { last_stream: 9 },
            Frame::Data {
                stream: 11,
                fin: true,
                data: b"hello".to_vec(),
            },
        ];
        let mut wire: Vec<u8> = frames.iter().flat_map(encode).collect();
        for expected in frames {
            let (frame, used) = parse(&wire).unwrap().expect("a whole frame");
            assert_eq!(frame, expected);
            wire.drain(..used);
        }
        assert!(wire.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_and_a_wrong_version_fails() {
        let data = encode(&Frame::Data {
            stream: 1,
            fin: false,
            data: vec![0; 10],
        });
        assert_eq!(parse(&data[..12]).unwrap(), None);
        let mut ping = encode(&Frame::Ping { id: 1 });
        ping[1] = 2;
        assert_eq!(parse(&ping), Err(SpdyError::Version(2)));
    }

    #[test]
    fn header_blocks_share_one_zlib_stream_per_direction() {
        let mut client = HeaderCodec::new();
        let mut server = HeaderCodec::new();
        let first = Headers::from([
            ("streamtype".to_string(), "error".to_string()),
            ("port".to_string(), "8080".to_string()),
            ("requestid".to_string(), "0".to_string()),
        ]);
        let mut second = first.clone();
        second.insert("streamtype".into(), "data".into());
        let blocks = [client.encode(&first), client.encode(&second)];
        assert_eq!(server.decode(&blocks[0]).unwrap(), first);
        assert_eq!(server.decode(&blocks[1]).unwrap(), second);
        assert!(
            blocks[1].len() < blocks[0].len(),
            "the second block refers back to the first"
        );
        assert_eq!(
            client.decode(&server.encode(&Headers::new())).unwrap(),
            Headers::new()
        );
    }

    #[test]
    fn a_corrupt_header_block_is_an_error() {
        let mut codec = HeaderCodec::new();
        assert!(
            codec
                .decode(&[0x78, 0xbb, 0xff, 0xff, 0xff, 0xff, 0x12])
                .is_err()
        );
    }
}
