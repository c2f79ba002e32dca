//! The `channel.k8s.io` family of WebSocket subprotocols, which `exec`, `attach` and
//! `portforward` speak: every message is one channel's data behind a channel number, a byte in
//! the binary protocols (`channel.k8s.io`, `v4.channel.k8s.io`, `v5.channel.k8s.io`) and an ASCII
//! digit before base64 text in the base64 ones (`base64.channel.k8s.io`,
//! `v4.base64.channel.k8s.io`). Also the choice of a subprotocol among those a client offers, as
//! Kubernetes' WebSocket server makes it: the first offered that is served, else a refusal.

use axum::extract::ws::Message;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

/// How a subprotocol carries channel data in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A binary message: the channel byte, then the data.
    Binary,
    /// A text message: the channel as an ASCII digit, then the data in base64.
    Base64,
}

/// The message carrying `payload` on `channel`.
pub fn frame(encoding: Encoding, channel: u8, payload: &[u8]) -> Message {
    match encoding {
        Encoding::Binary => {
            let mut bytes = Vec::with_capacity(payload.len() + 1);
            bytes.push(channel);
            bytes.extend_from_slice(payload);
            Message::Binary(Bytes::from(bytes))
        }
        Encoding::Base64 => {
            let mut text = String::with_capacity(payload.len() * 4 / 3 + 4);
            text.push(char::from(b'0'.wrapping_add(channel)));
            STANDARD.encode_string(payload, &mut text);
            Message::Text(text.into())
        }
    }
}

/// The channel and data of a client's message; `None` for control messages, empty messages and
/// base64 that does not decode (which Kubernetes drops too). Under the binary protocols a text
/// frame is read as its bytes, as the API server reads every data frame whatever its opcode (the
/// Python client sends its stdin as text frames).
pub fn parse(encoding: Encoding, message: &Message) -> Option<(u8, Bytes)> {
    match (encoding, message) {
        (Encoding::Binary, Message::Binary(bytes)) if !bytes.is_empty() => {
            Some((bytes[0], bytes.slice(1..)))
        }
        (Encoding::Binary, Message::Text(text)) if !text.is_empty() => {
            let bytes = Bytes::copy_from_slice(text.as_bytes());
            Some((bytes[0], bytes.slice(1..)))
        }
        (Encoding::Base64, Message::Text(text)) if !text.is_empty() => {
            let channel = text.as_bytes()[0].wrapping_sub(b'0');
            let data = STANDARD.decode(&text.as_bytes()[1..]).ok()?;
            Some((channel, Bytes::from(data)))
        }
        _ => None,
    }
}

/// The subprotocols a WebSocket request offers (`Sec-WebSocket-Protocol`, comma-separated, in
/// one header or several), in the client's order.
pub fn offered(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The first of `offered` that `served` has (the empty protocol when nothing is offered and it is
/// served), or the refusal Kubernetes writes with its 403.
pub fn negotiate<'a>(offered: &[String], served: &[&'a str]) -> Result<&'a str, String> {
    let empty = [String::new()];
    let wanted = if offered.is_empty() {
        &empty[..]
    } else {
        offered
    };
    wanted
        .iter()
        .find_map(|protocol| served.iter().find(|s| **s == protocol.as_str()).copied())
        .ok_or_else(|| {
            format!(
                "requested protocol(s) are not supported: [{}]; supports [{}]",
                offered.join(" "),
                served.join(" ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_frames_lead_with_the_channel_byte() {
        let message = frame(Encoding::Binary, 1, b"hi");
        assert_eq!(
            message,
            Message::Binary(Bytes::from_static(&[1, b'h', b'i']))
        );
        assert_eq!(
            parse(Encoding::Binary, &message),
            Some((1, Bytes::from_static(b"hi")))
        );
        assert_eq!(
            parse(Encoding::Binary, &Message::Text("\u{0}ls\n".into())),
            Some((0, Bytes::from_static(b"ls\n")))
        );
        assert_eq!(
            parse(Encoding::Binary, &Message::Binary(Bytes::new())),
            None
        );
    }

    #[test]
    fn base64_frames_lead_with_a_digit() {
        // Kubernetes' own example: "\n" on stdout.
        assert_eq!(
            frame(Encoding::Base64, 1, b"\n"),
            Message::Text("1Cg==".into())
        );
        assert_eq!(
            parse(Encoding::Base64, &Message::Text("0Zm9vCg==".into())),
            Some((0, Bytes::from_static(b"foo\n")))
        );
        assert_eq!(parse(Encoding::Base64, &Message::Text("0!!".into())), None);
    }

    #[test]
    fn the_first_offered_protocol_served_wins() {
        let served = ["v4.channel.k8s.io", "channel.k8s.io", ""];
        let offer = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            negotiate(&offer(&["v5.channel.k8s.io", "v4.channel.k8s.io"]), &served),
            Ok("v4.channel.k8s.io")
        );
        assert_eq!(negotiate(&[], &served), Ok(""));
        assert_eq!(
            negotiate(&offer(&["v3.channel.k8s.io"]), &served[..2]),
            Err(
                "requested protocol(s) are not supported: [v3.channel.k8s.io]; supports \
                 [v4.channel.k8s.io channel.k8s.io]"
                    .into()
            )
        );
    }

    #[test]
    fn offers_are_read_from_every_header() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            "v5.channel.k8s.io, v4.channel.k8s.io".parse().unwrap(),
        );
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            "channel.k8s.io".parse().unwrap(),
        );
        assert_eq!(
            offered(&headers),
            ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]
        );
    }
}
