//! Scenarios from mediasoup's own ORTC tests, plus the error paths and
//! defaults a mediasoup user relies on.

use serde_json::{Value, json};

use super::*;

fn codecs(value: Value) -> Vec<RtpCodecCapability> {
    from_json_value(value).unwrap()
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

const VIDEO_FEEDBACK: &str = r#"[
    {"type": "nack", "parameter": ""},
    {"type": "nack", "parameter": "pli"},
    {"type": "ccm", "parameter": "fir"},
    {"type": "goog-remb", "parameter": ""},
    {"type": "transport-cc", "parameter": ""}
]"#;

fn video_feedback() -> Value {
    serde_json::from_str(VIDEO_FEEDBACK).unwrap()
}

#[test]
fn router_capabilities_for_the_documented_codecs() {
    let media_codecs = codecs(json!([
        {
            "kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2,
            "parameters": {"useinbandfec": 1, "foo": "bar"}
        },
        {
            "kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 125,
            "clockRate": 90000
        },
        {
            "kind": "video", "mimeType": "video/H264", "clockRate": 90000,
            "parameters": {
                "level-asymmetry-allowed": 1, "packetization-mode": 1,
                "profile-level-id": "42e01f", "foo": "bar"
            },
            // Ignored: the supported codec's feedback wins.
            "rtcpFeedback": []
        }
    ]));

    let caps = generate_router_rtp_capabilities(&media_codecs).unwrap();
    let json = to_json(&caps);
    let codecs = json["codecs"].as_array().unwrap();
    assert_eq!(codecs.len(), 5);

    assert_eq!(
        codecs[0],
        json!({
            "kind": "audio", "mimeType": "audio/opus",
            "preferredPayloadType": 100, // First dynamic payload type.
            "clockRate": 48000, "channels": 2,
            "parameters": {"useinbandfec": 1, "foo": "bar"},
            "rtcpFeedback": [
                {"type": "nack", "parameter": ""},
                {"type": "transport-cc", "parameter": ""}
            ]
        })
    );
    assert_eq!(
        codecs[1],
        json!({
            "kind": "video", "mimeType": "video/VP8", "preferredPayloadType": 125,
            "clockRate": 90000, "parameters": {}, "rtcpFeedback": video_feedback()
        })
    );
    assert_eq!(
        codecs[2],
        json!({
            "kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 101,
            "clockRate": 90000, "parameters": {"apt": 125}, "rtcpFeedback": []
        })
    );
    assert_eq!(
        codecs[3],
        json!({
            "kind": "video", "mimeType": "video/H264", "preferredPayloadType": 102,
            "clockRate": 90000,
            "parameters": {
                "level-asymmetry-allowed": 1, "packetization-mode": 1,
                "profile-level-id": "42e01f", "foo": "bar"
            },
            "rtcpFeedback": video_feedback()
        })
    );
    assert_eq!(
        codecs[4],
        json!({
            "kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 103,
            "clockRate": 90000, "parameters": {"apt": 102}, "rtcpFeedback": []
        })
    );

    // Every supported header extension, normalized.
    assert_eq!(
        json["headerExtensions"],
        to_json(&supported_rtp_capabilities().header_extensions)
    );
    assert_eq!(
        json["headerExtensions"][0],
        json!({
            "kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid",
            "preferredId": 1, "preferredEncrypt": false, "direction": "sendrecv"
        })
    );
}

#[test]
fn router_capabilities_keep_static_payload_types_and_take_kind_from_mime_type() {
    let caps = generate_router_rtp_capabilities(&codecs(json!([
        {"kind": "video", "mimeType": "audio/PCMU", "clockRate": 8000},
        {"mimeType": "AUDIO/OPUS", "clockRate": 48000, "channels": 2}
    ])))
    .unwrap();
    assert_eq!(caps.codecs[0].kind, MediaKind::Audio);
    assert_eq!(caps.codecs[0].preferred_payload_type, Some(0));
    assert_eq!(caps.codecs[0].channels, Some(1));
    // The supported codec's mimeType spelling is used.
    assert_eq!(caps.codecs[1].mime_type, "audio/opus");
    assert_eq!(caps.codecs[1].preferred_payload_type, Some(100));
    assert_eq!(caps.codecs.len(), 2, "no RTX for audio");
}

#[test]
fn router_capabilities_reject_unsupported_codecs() {
    for media_codec in [
        json!({"kind": "audio", "mimeType": "audio/chicken", "clockRate": 8000, "channels": 4}),
        // opus is only supported in stereo.
        json!({"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 1}),
        json!({"kind": "video", "mimeType": "video/VP8", "clockRate": 48000}),
        // multiopus needs one of the supported stream layouts.
        json!({"kind": "audio", "mimeType": "audio/multiopus", "clockRate": 48000, "channels": 6,
               "parameters": {"num_streams": 3, "coupled_streams": 3}}),
    ] {
        let error = generate_router_rtp_capabilities(&codecs(json!([media_codec]))).unwrap_err();
        assert!(matches!(error, OrtcError::Unsupported(_)), "{error}");
    }
    let error = generate_router_rtp_capabilities(&codecs(json!([
        {"kind": "audio", "mimeType": "audio/chicken", "clockRate": 8000}
    ])))
    .unwrap_err();
    assert_eq!(
        error.message(),
        "media codec not supported [mimeType:audio/chicken]"
    );
}

#[test]
fn router_capabilities_accept_every_supported_codec_variant() {
    let caps = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "audio/multiopus", "clockRate": 48000, "channels": 6,
         "parameters": {"num_streams": 4, "coupled_streams": 2}},
        {"mimeType": "audio/G722", "clockRate": 8000},
        {"mimeType": "audio/iLBC", "clockRate": 8000},
        {"mimeType": "video/VP9", "clockRate": 90000, "parameters": {"profile-id": 2}},
        {"mimeType": "video/H264", "clockRate": 90000,
         "parameters": {"packetization-mode": 0, "profile-level-id": "640032"}},
        {"mimeType": "video/H265", "clockRate": 90000},
        {"mimeType": "video/AV1", "clockRate": 90000}
    ])))
    .unwrap();
    let mime_types: Vec<&str> = caps.codecs.iter().map(|c| c.mime_type.as_str()).collect();
    assert_eq!(
        mime_types,
        [
            "audio/multiopus",
            "audio/G722",
            "audio/iLBC",
            "video/VP9",
            "video/rtx",
            "video/H264",
            "video/rtx",
            "video/H265",
            "video/rtx",
            "video/AV1",
            "video/rtx"
        ]
    );
    assert_eq!(
        caps.codecs[0].parameters["channel_mapping"],
        json!("0,4,1,2,3,5")
    );
    assert_eq!(caps.codecs[1].preferred_payload_type, Some(9));
    assert_eq!(caps.codecs[3].parameters["profile-id"], json!(2));
    assert_eq!(
        caps.codecs[5].parameters["level-asymmetry-allowed"],
        json!(1)
    );
}

#[test]
fn router_capabilities_run_out_of_dynamic_payload_types() {
    let opus =
        json!({"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2});
    let many = codecs(Value::Array(vec![opus; 100]));
    let error = generate_router_rtp_capabilities(&many).unwrap_err();
    assert!(error.message().contains("cannot allocate"), "{error}");

    // 16 video codecs need 32 payload types: exactly the dynamic range.
    let vp8 = json!({"kind": "video", "mimeType": "video/VP8", "clockRate": 90000});
    assert_eq!(
        generate_router_rtp_capabilities(&codecs(Value::Array(vec![vp8.clone(); 16])))
            .unwrap()
            .codecs
            .len(),
        32
    );
    assert!(generate_router_rtp_capabilities(&codecs(Value::Array(vec![vp8; 17]))).is_err());
}

#[test]
fn router_capabilities_reject_duplicated_payload_types() {
    let error = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "audio/opus", "clockRate": 48000, "channels": 2, "preferredPayloadType": 111},
        {"mimeType": "video/VP8", "clockRate": 90000, "preferredPayloadType": 111}
    ])))
    .unwrap_err();
    assert_eq!(
        error,
        OrtcError::TypeError("duplicated codec.preferredPayloadType".into())
    );

    // A preferred payload type that an earlier RTX codec already took.
    let error = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "video/VP8", "clockRate": 90000},
        {"mimeType": "audio/opus", "clockRate": 48000, "channels": 2, "preferredPayloadType": 101}
    ])))
    .unwrap_err();
    assert!(matches!(error, OrtcError::TypeError(_)));

    // A user-chosen payload type is no longer handed out dynamically.
    let caps = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "audio/opus", "clockRate": 48000, "channels": 2, "preferredPayloadType": 101},
        {"mimeType": "video/VP8", "clockRate": 90000}
    ])))
    .unwrap();
    let pts: Vec<_> = caps
        .codecs
        .iter()
        .map(|c| c.preferred_payload_type.unwrap())
        .collect();
    assert_eq!(pts, [101, 100, 102]);
}

#[test]
fn router_capabilities_reject_malformed_codecs() {
    let malformed = |codec: Value| {
        let codecs: Vec<RtpCodecCapability> = from_json_value(json!([codec])).unwrap();
        generate_router_rtp_capabilities(&codecs).unwrap_err()
    };
    assert_eq!(
        malformed(json!({"kind": "audio", "clockRate": 48000})),
        OrtcError::TypeError("missing codec.mimeType".into())
    );
    assert_eq!(
        malformed(json!({"mimeType": "opus", "clockRate": 48000})),
        OrtcError::TypeError("invalid codec.mimeType".into())
    );
    assert_eq!(
        malformed(json!({"mimeType": "text/plain", "clockRate": 48000})),
        OrtcError::TypeError("invalid codec.mimeType".into())
    );
    assert!(matches!(
        malformed(json!({"mimeType": "video/VP8", "clockRate": 90000, "parameters": {"x": [1]}})),
        OrtcError::TypeError(_)
    ));
    assert_eq!(
        malformed(
            json!({"mimeType": "video/VP8", "clockRate": 90000, "parameters": {"apt": "96"}})
        ),
        OrtcError::TypeError("invalid codec apt parameter".into())
    );
    assert_eq!(
        malformed(
            json!({"mimeType": "video/VP8", "clockRate": 90000, "rtcpFeedback": [{"type": ""}]})
        ),
        OrtcError::TypeError("missing fb.type".into())
    );
    // Shape errors surface when the JSON is read.
    for bad in [
        json!({"mimeType": "audio/opus"}),
        json!([{"mimeType": "audio/opus"}]),
        json!([{"mimeType": "audio/opus", "clockRate": "48000"}]),
    ] {
        let error = from_json_value::<Vec<RtpCodecCapability>>(bad).unwrap_err();
        assert!(matches!(error, OrtcError::TypeError(_)), "{error}");
    }
}

fn h264_router() -> RtpCapabilities {
    generate_router_rtp_capabilities(&codecs(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
        {
            "kind": "video", "mimeType": "video/H264", "clockRate": 90000,
            "parameters": {
                "level-asymmetry-allowed": 1, "packetization-mode": 1,
                "profile-level-id": "4d0032", "bar": "lalala"
            }
        }
    ])))
    .unwrap()
}

fn simulcast_producer() -> RtpParameters {
    let mut params: RtpParameters = from_json_value(json!({
        "codecs": [
            {
                "mimeType": "video/H264", "payloadType": 111, "clockRate": 90000,
                "parameters": {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
                "rtcpFeedback": [
                    {"type": "nack", "parameter": ""},
                    {"type": "nack", "parameter": "pli"},
                    {"type": "goog-remb", "parameter": ""}
                ]
            },
            {
                "mimeType": "video/rtx", "payloadType": 112, "clockRate": 90000,
                "parameters": {"apt": 111}, "rtcpFeedback": []
            }
        ],
        "headerExtensions": [
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1},
            {"uri": "urn:3gpp:video-orientation", "id": 2}
        ],
        "encodings": [
            {"ssrc": 11111111, "rtx": {"ssrc": 11111112}, "maxBitrate": 111111, "scalabilityMode": "L1T3"},
            {"ssrc": 21111111, "rtx": {"ssrc": 21111112}, "maxBitrate": 222222, "scalabilityMode": "L1T3"},
            {"rid": "high", "maxBitrate": 333333, "scalabilityMode": "L1T3"}
        ],
        "rtcp": {"cname": "qwerty1234"}
    }))
    .unwrap();
    validate_rtp_parameters(&mut params).unwrap();
    params
}

fn remote_caps() -> RtpCapabilities {
    from_json_value(json!({
        "codecs": [
            {
                "kind": "audio", "mimeType": "audio/opus", "preferredPayloadType": 100,
                "clockRate": 48000, "channels": 2, "parameters": {}, "rtcpFeedback": []
            },
            {
                "kind": "video", "mimeType": "video/H264", "preferredPayloadType": 101,
                "clockRate": 90000,
                "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032", "baz": "LOLOLO"},
                "rtcpFeedback": [
                    {"type": "nack", "parameter": ""},
                    {"type": "nack", "parameter": "pli"},
                    {"type": "foo", "parameter": "FOO"}
                ]
            },
            {
                "kind": "video", "mimeType": "video/rtx", "preferredPayloadType": 102,
                "clockRate": 90000, "parameters": {"apt": 101}, "rtcpFeedback": []
            }
        ],
        "headerExtensions": [
            {"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "preferredId": 1,
             "preferredEncrypt": false, "direction": "sendrecv"},
            {"kind": "video", "uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "preferredId": 1,
             "preferredEncrypt": false, "direction": "sendrecv"},
            {"kind": "video", "uri": "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "preferredId": 2,
             "preferredEncrypt": false, "direction": "sendrecv"},
            {"kind": "audio", "uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "preferredId": 8,
             "preferredEncrypt": false, "direction": "sendrecv"},
            {"kind": "video", "uri": "urn:3gpp:video-orientation", "preferredId": 8,
             "preferredEncrypt": false, "direction": "sendrecv"},
            {"kind": "video", "uri": "urn:ietf:params:rtp-hdrext:toffset", "preferredId": 9,
             "preferredEncrypt": false, "direction": "sendrecv"}
        ]
    }))
    .unwrap()
}

#[test]
fn producer_to_consumable_to_consumer_parameters() {
    let router = h264_router();
    let params = simulcast_producer();

    // Mapping: router payload types, consecutive mapped SSRCs.
    let mapping = get_producer_rtp_parameters_mapping(&params, &router).unwrap();
    assert_eq!(
        to_json(&mapping.codecs),
        json!([
            {"payloadType": 111, "mappedPayloadType": 101},
            {"payloadType": 112, "mappedPayloadType": 102}
        ])
    );
    let e = &mapping.encodings;
    assert_eq!((e[0].ssrc, e[0].rid.as_deref()), (Some(11111111), None));
    assert_eq!((e[1].ssrc, e[1].rid.as_deref()), (Some(21111111), None));
    assert_eq!((e[2].ssrc, e[2].rid.as_deref()), (None, Some("high")));
    assert_eq!(e[0].scalability_mode.as_deref(), Some("L1T3"));
    assert_eq!(e[1].mapped_ssrc, e[0].mapped_ssrc + 1);
    assert_eq!(e[2].mapped_ssrc, e[0].mapped_ssrc + 2);

    // Consumable: router codecs with the producer's codec parameters.
    let consumable = get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);
    let json = to_json(&consumable);
    assert_eq!(
        json["codecs"][0],
        json!({
            "mimeType": "video/H264", "payloadType": 101, "clockRate": 90000,
            "parameters": {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
            "rtcpFeedback": video_feedback()
        })
    );
    assert_eq!(
        json["codecs"][1],
        json!({
            "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000,
            "parameters": {"apt": 101}, "rtcpFeedback": []
        })
    );
    assert_eq!(
        json["encodings"],
        json!([
            {"ssrc": e[0].mapped_ssrc, "dtx": false, "maxBitrate": 111111, "scalabilityMode": "L1T3"},
            {"ssrc": e[1].mapped_ssrc, "dtx": false, "maxBitrate": 222222, "scalabilityMode": "L1T3"},
            {"ssrc": e[2].mapped_ssrc, "dtx": false, "maxBitrate": 333333, "scalabilityMode": "L1T3"}
        ])
    );
    assert_eq!(
        json["rtcp"],
        json!({"cname": "qwerty1234", "reducedSize": true})
    );
    // Only video extensions the router sends.
    let uris: Vec<&str> = consumable
        .header_extensions
        .iter()
        .map(|h| h.uri.as_str())
        .collect();
    assert_eq!(
        uris,
        [
            supported::MID_URI,
            supported::ABS_SEND_TIME_URI,
            supported::TRANSPORT_WIDE_CC_URI,
            supported::VIDEO_ORIENTATION_URI,
            supported::TIME_OFFSET_URI,
            supported::ABS_CAPTURE_TIME_URI,
            supported::PLAYOUT_DELAY_URI,
            supported::PACKET_ID_URI,
        ]
    );
    assert!(!json.as_object().unwrap().contains_key("mid"));

    // Consumer: one encoding, simulcast streams as spatial layers.
    let remote = remote_caps();
    assert!(can_consume(&consumable, &remote).unwrap());
    let consumer = get_consumer_rtp_parameters(&consumable, &remote, false, true).unwrap();
    let json = to_json(&consumer);
    assert_eq!(
        json["codecs"],
        json!([
            {
                "mimeType": "video/H264", "payloadType": 101, "clockRate": 90000,
                "parameters": {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
                "rtcpFeedback": [
                    {"type": "nack", "parameter": ""},
                    {"type": "nack", "parameter": "pli"},
                    {"type": "foo", "parameter": "FOO"}
                ]
            },
            {
                "mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000,
                "parameters": {"apt": 101}, "rtcpFeedback": []
            }
        ])
    );
    assert_eq!(consumer.encodings.len(), 1);
    let encoding = &consumer.encodings[0];
    let ssrc = encoding.ssrc.unwrap();
    assert_eq!(encoding.rtx, Some(RtxParameters { ssrc: ssrc + 1 }));
    assert_eq!(encoding.scalability_mode.as_deref(), Some("L3T3"));
    assert_eq!(encoding.max_bitrate, Some(333333));
    assert_eq!(
        json["headerExtensions"],
        json!([
            {"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1, "encrypt": false, "parameters": {}},
            {"uri": "urn:3gpp:video-orientation", "id": 8, "encrypt": false, "parameters": {}},
            {"uri": "urn:ietf:params:rtp-hdrext:toffset", "id": 9, "encrypt": false, "parameters": {}}
        ])
    );
    assert_eq!(
        json["rtcp"],
        json!({"cname": "qwerty1234", "reducedSize": true})
    );

    // Pipe consumer without RTX: all encodings, no RTX, no BWE.
    let pipe = get_pipe_consumer_rtp_parameters(&consumable, false);
    let json = to_json(&pipe);
    assert_eq!(
        json["codecs"],
        json!([{
            "mimeType": "video/H264", "payloadType": 101, "clockRate": 90000,
            "parameters": {"foo": 1234, "packetization-mode": 1, "profile-level-id": "4d0032"},
            "rtcpFeedback": [
                {"type": "nack", "parameter": "pli"},
                {"type": "ccm", "parameter": "fir"}
            ]
        }])
    );
    assert_eq!(pipe.encodings.len(), 3);
    for (i, encoding) in pipe.encodings.iter().enumerate() {
        assert_eq!(
            encoding.ssrc,
            Some(pipe.encodings[0].ssrc.unwrap() + i as u32)
        );
        assert_eq!(encoding.rtx, None);
        assert!(encoding.max_bitrate.is_some());
        assert_eq!(encoding.scalability_mode.as_deref(), Some("L1T3"));
    }
    assert!(
        pipe.header_extensions
            .iter()
            .all(|ext| ext.uri != supported::MID_URI
                && ext.uri != supported::ABS_SEND_TIME_URI
                && ext.uri != supported::TRANSPORT_WIDE_CC_URI)
    );
    assert_eq!(
        json["rtcp"],
        json!({"cname": "qwerty1234", "reducedSize": true})
    );

    // Pipe consumer with RTX keeps RTX codecs, plain NACK and RTX SSRCs.
    let pipe = get_pipe_consumer_rtp_parameters(&consumable, true);
    assert_eq!(pipe.codecs.len(), 2);
    assert_eq!(
        to_json(&pipe.codecs[0].rtcp_feedback),
        json!([
            {"type": "nack", "parameter": ""},
            {"type": "nack", "parameter": "pli"},
            {"type": "ccm", "parameter": "fir"}
        ])
    );
    let rtx_base = pipe.encodings[0].rtx.unwrap().ssrc;
    assert_eq!(
        pipe.encodings[2].rtx,
        Some(RtxParameters { ssrc: rtx_base + 2 })
    );
}

#[test]
fn consumer_without_rtx_loses_rtx_codec_and_plain_nack() {
    let router = h264_router();
    let params = simulcast_producer();
    let mapping = get_producer_rtp_parameters_mapping(&params, &router).unwrap();
    let consumable = get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);

    let consumer = get_consumer_rtp_parameters(&consumable, &remote_caps(), false, false).unwrap();
    assert_eq!(consumer.codecs.len(), 1);
    assert_eq!(
        to_json(&consumer.codecs[0].rtcp_feedback),
        json!([{"type": "nack", "parameter": "pli"}, {"type": "foo", "parameter": "FOO"}])
    );
    assert_eq!(consumer.encodings[0].rtx, None);

    // A pipe consumer (through the regular function) keeps all encodings.
    let consumer = get_consumer_rtp_parameters(&consumable, &remote_caps(), true, true).unwrap();
    assert_eq!(consumer.encodings.len(), 3);
    assert!(consumer.encodings.iter().all(|e| e.rtx.is_some()));
}

#[test]
fn consumer_keeps_one_congestion_control_feedback() {
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "video/VP8", "clockRate": 90000}
    ])))
    .unwrap();
    let mut params: RtpParameters = from_json_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
        "encodings": [{"ssrc": 1234}]
    }))
    .unwrap();
    validate_rtp_parameters(&mut params).unwrap();
    let mapping = get_producer_rtp_parameters_mapping(&params, &router).unwrap();
    let consumable = get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);

    let feedback_with = |uris: &[&str]| {
        let mut remote = router.clone();
        remote
            .header_extensions
            .retain(|ext| uris.contains(&ext.uri.as_str()));
        let consumer = get_consumer_rtp_parameters(&consumable, &remote, false, true).unwrap();
        consumer.codecs[0]
            .rtcp_feedback
            .iter()
            .map(|fb| fb.r#type.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        feedback_with(&[
            supported::TRANSPORT_WIDE_CC_URI,
            supported::ABS_SEND_TIME_URI
        ]),
        ["nack", "nack", "ccm", "transport-cc"]
    );
    assert_eq!(
        feedback_with(&[supported::ABS_SEND_TIME_URI]),
        ["nack", "nack", "ccm", "goog-remb"]
    );
    assert_eq!(feedback_with(&[]), ["nack", "nack", "ccm"]);

    // A single stream without scalabilityMode gives none to the consumer.
    let consumer = get_consumer_rtp_parameters(&consumable, &router, false, true).unwrap();
    assert_eq!(consumer.encodings[0].scalability_mode, None);
    assert_eq!(consumer.encodings[0].max_bitrate, None);
}

#[test]
fn producer_with_unsupported_codec_is_rejected() {
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
        {"kind": "video", "mimeType": "video/H264", "clockRate": 90000,
         "parameters": {"packetization-mode": 1, "profile-level-id": "640032"}}
    ])))
    .unwrap();
    let vp8: RtpParameters = from_json_value(json!({
        "codecs": [{
            "mimeType": "video/VP8", "payloadType": 120, "clockRate": 90000,
            "rtcpFeedback": [{"type": "nack", "parameter": ""}, {"type": "nack", "parameter": "fir"}]
        }],
        "headerExtensions": [],
        "encodings": [{"ssrc": 11111111}],
        "rtcp": {"cname": "qwerty1234"}
    }))
    .unwrap();
    let error = get_producer_rtp_parameters_mapping(&vp8, &router).unwrap_err();
    assert_eq!(
        error,
        OrtcError::Unsupported("unsupported codec [mimeType:video/VP8, payloadType:120]".into())
    );

    // H264 of another profile or packetization-mode does not match either.
    for parameters in [
        json!({"packetization-mode": 1, "profile-level-id": "42e01f"}),
        json!({"packetization-mode": 0, "profile-level-id": "640032"}),
        json!({"profile-level-id": "640032"}),
    ] {
        let h264: RtpParameters = from_json_value(json!({
            "codecs": [{"mimeType": "video/H264", "payloadType": 100, "clockRate": 90000,
                        "parameters": parameters}],
            "encodings": [{"ssrc": 1}]
        }))
        .unwrap();
        assert!(matches!(
            get_producer_rtp_parameters_mapping(&h264, &router),
            Err(OrtcError::Unsupported(_))
        ));
    }
}

#[test]
fn producer_rtx_errors() {
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "video/VP8", "clockRate": 90000}
    ])))
    .unwrap();
    let orphan_rtx: RtpParameters = from_json_value(json!({
        "codecs": [
            {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000},
            {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000, "parameters": {"apt": 98}}
        ]
    }))
    .unwrap();
    assert_eq!(
        get_producer_rtp_parameters_mapping(&orphan_rtx, &router).unwrap_err(),
        OrtcError::TypeError("missing media codec found for RTX PT 97".into())
    );

    let mut no_router_rtx = router.clone();
    no_router_rtx.codecs.retain(|c| !is_rtx_codec(c));
    let mut with_rtx = orphan_rtx.clone();
    with_rtx.codecs[1]
        .parameters
        .insert("apt".into(), json!(96));
    assert_eq!(
        get_producer_rtp_parameters_mapping(&with_rtx, &no_router_rtx).unwrap_err(),
        OrtcError::Unsupported("no RTX codec for capability codec PT 100".into())
    );
}

#[test]
fn producer_h264_profile_level_id_is_answered() {
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "video/H264", "clockRate": 90000,
         "parameters": {"packetization-mode": 1, "profile-level-id": "42e01f"}}
    ])))
    .unwrap();
    // The producer offers a higher level without level asymmetry: the
    // router's lower level is the answer.
    let mut params: RtpParameters = from_json_value(json!({
        "codecs": [{"mimeType": "video/H264", "payloadType": 102, "clockRate": 90000,
                    "parameters": {"packetization-mode": 1, "profile-level-id": "42e034"}}],
        "encodings": [{"ssrc": 1}]
    }))
    .unwrap();
    let before = params.clone();
    get_producer_rtp_parameters_mapping(&params, &router).unwrap();
    assert_eq!(
        params, before,
        "the non-mutating variant leaves params alone"
    );

    negotiate_producer_rtp_parameters(&mut params, &router).unwrap();
    assert_eq!(
        params.codecs[0].parameters["profile-level-id"],
        json!("42e01f")
    );

    // With level asymmetry on both sides the producer keeps its level.
    params.codecs[0]
        .parameters
        .insert("level-asymmetry-allowed".into(), json!(1));
    params.codecs[0]
        .parameters
        .insert("profile-level-id".into(), json!("42e034"));
    negotiate_producer_rtp_parameters(&mut params, &router).unwrap();
    assert_eq!(
        params.codecs[0].parameters["profile-level-id"],
        json!("42e034")
    );

    // No profile-level-id anywhere means the default profile on both sides.
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "video/H264", "clockRate": 90000}
    ])))
    .unwrap();
    let mut params: RtpParameters = from_json_value(json!({
        "codecs": [{"mimeType": "video/H264", "payloadType": 102, "clockRate": 90000}]
    }))
    .unwrap();
    negotiate_producer_rtp_parameters(&mut params, &router).unwrap();
    assert!(!params.codecs[0].parameters.contains_key("profile-level-id"));
}

#[test]
fn vp9_profile_and_case_insensitive_mime_types_in_strict_matching() {
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "video/VP9", "clockRate": 90000, "parameters": {"profile-id": 2}}
    ])))
    .unwrap();
    let producer = |profile: Value| -> RtpParameters {
        from_json_value(json!({
            "codecs": [{"mimeType": "video/vp9", "payloadType": 98, "clockRate": 90000,
                        "parameters": {"profile-id": profile}}]
        }))
        .unwrap()
    };
    assert!(get_producer_rtp_parameters_mapping(&producer(json!(2)), &router).is_ok());
    assert!(get_producer_rtp_parameters_mapping(&producer(json!(0)), &router).is_err());
    // JavaScript's === : the string "2" is not the number 2.
    assert!(get_producer_rtp_parameters_mapping(&producer(json!("2")), &router).is_err());
}

#[test]
fn consumer_fails_without_a_compatible_codec() {
    let router = h264_router();
    let params = simulcast_producer();
    let mapping = get_producer_rtp_parameters_mapping(&params, &router).unwrap();
    let consumable = get_consumable_rtp_parameters(MediaKind::Video, &params, &router, &mapping);

    let mut remote = remote_caps();
    remote.codecs.retain(|c| c.mime_type != "video/H264");
    assert!(!can_consume(&consumable, &remote).unwrap());
    assert_eq!(
        get_consumer_rtp_parameters(&consumable, &remote, false, true).unwrap_err(),
        OrtcError::Unsupported("no compatible media codecs".into())
    );

    // Another H264 profile is not compatible either.
    let mut remote = remote_caps();
    remote.codecs[1]
        .parameters
        .insert("profile-level-id".into(), json!("42e01f"));
    assert!(!can_consume(&consumable, &remote).unwrap());
    assert!(get_consumer_rtp_parameters(&consumable, &remote, false, true).is_err());

    // Nothing at all.
    assert!(!can_consume(&consumable, &RtpCapabilities::default()).unwrap());
}

#[test]
fn can_consume_validates_the_capabilities() {
    let consumable = RtpParameters::default();
    let caps: RtpCapabilities = from_json_value(json!({
        "codecs": [{"mimeType": "bogus", "clockRate": 1}]
    }))
    .unwrap();
    assert_eq!(
        can_consume(&consumable, &caps).unwrap_err(),
        OrtcError::TypeError("invalid codec.mimeType".into())
    );
}

#[test]
fn can_consume_audio_with_default_channels() {
    let router = generate_router_rtp_capabilities(&codecs(json!([
        {"mimeType": "audio/PCMA", "clockRate": 8000}
    ])))
    .unwrap();
    let mut params: RtpParameters = from_json_value(json!({
        "codecs": [{"mimeType": "audio/PCMA", "payloadType": 8, "clockRate": 8000}],
        "encodings": [{"ssrc": 5}]
    }))
    .unwrap();
    validate_rtp_parameters(&mut params).unwrap();
    let mapping = get_producer_rtp_parameters_mapping(&params, &router).unwrap();
    let consumable = get_consumable_rtp_parameters(MediaKind::Audio, &params, &router, &mapping);
    // The endpoint leaves channels out; validation makes it 1.
    let remote: RtpCapabilities = from_json_value(json!({
        "codecs": [{"kind": "audio", "mimeType": "audio/PCMA", "clockRate": 8000}]
    }))
    .unwrap();
    assert!(can_consume(&consumable, &remote).unwrap());
    let consumer = get_consumer_rtp_parameters(&consumable, &remote, false, true).unwrap();
    assert_eq!(consumer.codecs[0].channels, Some(1));
    assert_eq!(consumer.codecs[0].payload_type, 8);
    assert_eq!(consumer.header_extensions, []);
    let audio_uris: Vec<_> = consumable
        .header_extensions
        .iter()
        .map(|e| e.uri.as_str())
        .collect();
    // transport-wide-cc is receive-only for audio.
    assert!(!audio_uris.contains(&supported::TRANSPORT_WIDE_CC_URI));
    assert!(audio_uris.contains(&supported::AUDIO_LEVEL_URI));
}

#[test]
fn rtp_parameters_validation_fills_defaults() {
    let mut params: RtpParameters = from_json_value(json!({
        "mid": "0",
        "codecs": [
            {"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000,
             "rtcpFeedback": [{"type": "transport-cc"}]}
        ],
        "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1}],
        "encodings": [{"ssrc": 1111}],
        "rtcp": {"cname": "x", "reducedSize": false}
    }))
    .unwrap();
    validate_rtp_parameters(&mut params).unwrap();
    assert_eq!(
        to_json(&params),
        json!({
            "mid": "0",
            "codecs": [{
                "mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 1,
                "parameters": {}, "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}]
            }],
            "headerExtensions": [{
                "uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1, "encrypt": false,
                "parameters": {}
            }],
            "encodings": [{"ssrc": 1111, "dtx": false}],
            "rtcp": {"cname": "x", "reducedSize": true}
        })
    );

    let mut video: RtpParameters = from_json_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "channels": 2}]
    }))
    .unwrap();
    validate_rtp_parameters(&mut video).unwrap();
    assert_eq!(video.codecs[0].channels, None, "video has no channels");
    assert_eq!(video.rtcp.reduced_size, Some(true));

    let mut bad: RtpParameters = from_json_value(json!({
        "codecs": [{"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000}],
        "headerExtensions": [{"uri": "", "id": 1}]
    }))
    .unwrap();
    assert_eq!(
        validate_rtp_parameters(&mut bad).unwrap_err(),
        OrtcError::TypeError("missing ext.uri".into())
    );
    assert!(from_json_value::<RtpParameters>(json!({"codecs": {}})).is_err());
}

#[test]
fn rtp_capabilities_validation_fills_defaults() {
    let mut caps: RtpCapabilities = from_json_value(json!({
        "codecs": [{"mimeType": "video/VP8", "clockRate": 90000, "rtcpFeedback": [{"type": "nack"}]}],
        "headerExtensions": [{"kind": "video", "uri": "urn:3gpp:video-orientation", "preferredId": 4}]
    }))
    .unwrap();
    validate_rtp_capabilities(&mut caps).unwrap();
    assert_eq!(
        to_json(&caps),
        json!({
            "codecs": [{
                "kind": "video", "mimeType": "video/VP8", "clockRate": 90000, "parameters": {},
                "rtcpFeedback": [{"type": "nack", "parameter": ""}]
            }],
            "headerExtensions": [{
                "kind": "video", "uri": "urn:3gpp:video-orientation", "preferredId": 4,
                "preferredEncrypt": false, "direction": "sendrecv"
            }]
        })
    );
    let mut empty: RtpCapabilities = from_json_value(json!({})).unwrap();
    validate_rtp_capabilities(&mut empty).unwrap();
    assert_eq!(
        to_json(&empty),
        json!({"codecs": [], "headerExtensions": []})
    );
    // An unknown kind on a header extension is malformed.
    assert!(
        from_json_value::<RtpCapabilities>(json!({
            "headerExtensions": [{"kind": "data", "uri": "x", "preferredId": 1}]
        }))
        .is_err()
    );
}

#[test]
fn sctp_stream_parameters_validation() {
    let validate = |value: Value| {
        let mut params: SctpStreamParameters = from_json_value(value)?;
        validate_sctp_stream_parameters(&mut params).map(|_| to_json(&params))
    };
    assert_eq!(
        validate(json!({"streamId": 1})),
        Ok(json!({"streamId": 1, "ordered": true}))
    );
    assert_eq!(
        validate(json!({"streamId": 2, "maxRetransmits": 3})),
        Ok(json!({"streamId": 2, "ordered": false, "maxRetransmits": 3}))
    );
    assert_eq!(
        validate(json!({"streamId": 2, "ordered": false, "maxPacketLifeTime": 500})),
        Ok(json!({"streamId": 2, "ordered": false, "maxPacketLifeTime": 500}))
    );
    assert_eq!(
        validate(json!({"streamId": 3, "maxRetransmits": 3, "maxPacketLifeTime": 5})),
        Err(OrtcError::TypeError(
            "cannot provide both maxPacketLifeTime and maxRetransmits".into()
        ))
    );
    assert_eq!(
        validate(json!({"streamId": 3, "ordered": true, "maxRetransmits": 3})),
        Err(OrtcError::TypeError(
            "cannot be ordered with maxPacketLifeTime or maxRetransmits".into()
        ))
    );
    assert!(matches!(
        validate(json!({"ordered": true})),
        Err(OrtcError::TypeError(_))
    ));
}

#[test]
fn supported_capabilities_table() {
    let caps = supported_rtp_capabilities();
    let has = |mime: &str, clock_rate: u32| {
        caps.codecs
            .iter()
            .any(|c| c.mime_type == mime && c.clock_rate == clock_rate)
    };
    for (mime, rate) in [
        ("audio/opus", 48000),
        ("audio/multiopus", 48000),
        ("audio/PCMU", 8000),
        ("audio/PCMA", 8000),
        ("audio/G722", 8000),
        ("audio/iLBC", 8000),
        ("audio/ISAC", 16000),
        ("audio/SILK", 24000),
        ("audio/CN", 32000),
        ("audio/telephone-event", 48000),
        ("video/VP8", 90000),
        ("video/VP9", 90000),
        ("video/H264", 90000),
        ("video/H265", 90000),
        ("video/AV1", 90000),
    ] {
        assert!(has(mime, rate), "{mime}/{rate}");
    }
    // Already in validated form: validation changes nothing.
    let mut validated = caps.clone();
    validate_rtp_capabilities(&mut validated).unwrap();
    assert_eq!(validated, caps);
    assert_eq!(
        to_json(&caps.codecs[4]),
        json!({
            "kind": "audio", "mimeType": "audio/PCMU", "preferredPayloadType": 0,
            "clockRate": 8000, "channels": 1, "parameters": {},
            "rtcpFeedback": [{"type": "transport-cc", "parameter": ""}]
        })
    );
    assert_eq!(caps.header_extensions.len(), 18);
    let rid = caps
        .header_extensions
        .iter()
        .find(|e| e.uri == supported::RTP_STREAM_ID_URI)
        .unwrap();
    assert_eq!(
        (rid.preferred_id, rid.direction),
        (2, RtpHeaderExtensionDirection::Recvonly)
    );
}

#[test]
fn rtp_mapping_serializes_in_mediasoup_shape() {
    let mapping = RtpMapping {
        codecs: vec![RtpMappingCodec {
            payload_type: 96,
            mapped_payload_type: 101,
        }],
        encodings: vec![
            RtpMappingEncoding {
                ssrc: Some(1),
                rid: None,
                scalability_mode: None,
                mapped_ssrc: 5,
            },
            RtpMappingEncoding {
                ssrc: None,
                rid: Some("h".into()),
                scalability_mode: Some("L1T3".into()),
                mapped_ssrc: 6,
            },
        ],
    };
    assert_eq!(
        to_json(&mapping),
        json!({
            "codecs": [{"payloadType": 96, "mappedPayloadType": 101}],
            "encodings": [
                {"ssrc": 1, "mappedSsrc": 5},
                {"rid": "h", "scalabilityMode": "L1T3", "mappedSsrc": 6}
            ]
        })
    );
    let back: RtpMapping = from_json_value(to_json(&mapping)).unwrap();
    assert_eq!(back, mapping);
}
