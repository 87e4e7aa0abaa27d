#!/usr/bin/env python3
"""Generates every generated Swift file of the repository from one message table (the one below):

  Sources/Sv2Codec/Messages/*.swift, Sources/Sv2Codec/Sv2MessageType.swift, Sources/Sv2Codec/Sv2AnyMessage.swift
      the message types (owned values and zero-copy views), the message-type enum and the any-message enum;
  Sources/Sv2Service/Generated/*.swift
      the per-subprotocol handler protocols (over Sv2Service's Sv2SubprotocolHandler), their Null handlers
      and the per-message dispatch switches;
  Tests/Sv2CodecTests/Generated/RandomMessages.swift
      the random-sample helpers of the codec tests.

The table is the single source of truth for wire layout: field order and types follow the Stratum V2
specification's message types and SRI; Docs/Interoperability.md describes the fields some deployed peers omit.
Run from anywhere (paths are relative to the repository root); this is the only entry point:

    python3 scripts/gen-messages.py

Generated files are committed (the build never needs Python); edit this script, not its output. CI (.ci/run)
regenerates them and fails when the committed files differ.
"""
import os, re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Sources", "Sv2Codec", "Messages")
TEST_OUT = os.path.join(ROOT, "Tests", "Sv2CodecTests", "Generated")

# (SwiftName, WireName, group, extension_type, msg_type, channel_msg, direction, fields)
# fields: "wire_name:TYPE" ; an optional "=swiftName" after the wire name overrides the Swift property name.
# "wire_name:TYPE|absent=VALUE" marks an OPTIONAL TRAILING field: a field that some deployed peers do not send
# because their spec revision predates it (see Docs/Interoperability.md). It must be a scalar and come after
# every other field; when the payload ends right before it, decoding gives VALUE and `hasSwiftName` is false; a
# partial field is still a truncation error. Encoding always writes it (we send the current layout).
M = []
def msg(name, wire, group, ext, typ, ch, direction, *fields, doc=""):
    M.append(dict(name=name, wire=wire, group=group, ext=ext, typ=typ, ch=ch, dir=direction, fields=fields, doc=doc))

C, MI, JD, TD, EX = "common", "mining", "jobDeclaration", "templateDistribution", "extensionsNegotiation"
msg("SetupConnection", "SetupConnection", C, 0, 0x00, False, "client → server",
    "protocol=protocolID:U8", "min_version:U16", "max_version:U16", "flags:U32", "endpoint_host:STR0_255",
    "endpoint_port:U16", "vendor:STR0_255", "hardware_version:STR0_255", "firmware:STR0_255", "device_id:STR0_255",
    doc="The first message of every connection: which subprotocol, which versions and flags the client wants.")
msg("SetupConnectionSuccess", "SetupConnection.Success", C, 0, 0x01, False, "server → client",
    "used_version:U16", "flags:U32", doc="Accepts a `SetupConnection`; `flags` are the server's feature flags.")
msg("SetupConnectionError", "SetupConnection.Error", C, 0, 0x02, False, "server → client",
    "flags:U32", "error_code:STR0_255", doc="Refuses a `SetupConnection`; `flags` lists the unsupported flags.")
msg("ChannelEndpointChanged", "ChannelEndpointChanged", C, 0, 0x03, True, "server → client",
    "channel_id:U32", doc="The upstream of a channel changed; the downstream must expect a new job stream.")
msg("Reconnect", "Reconnect", C, 0, 0x04, False, "server → client",
    "new_host:STR0_255", "new_port:U16", doc="Asks the client to reconnect elsewhere (empty host / port 0 = same).")

msg("OpenStandardMiningChannel", "OpenStandardMiningChannel", MI, 0, 0x10, False, "client → server",
    "request_id:U32", "user_identity:STR0_255", "nominal_hash_rate:F32", "max_target:U256",
    doc="Requests a standard (header-only) mining channel.")
msg("OpenStandardMiningChannelSuccess", "OpenStandardMiningChannel.Success", MI, 0, 0x11, False, "server → client",
    "request_id:U32", "channel_id:U32", "target:U256", "extranonce_prefix:B0_32", "group_channel_id:U32",
    doc="A standard channel was opened.")
msg("OpenMiningChannelError", "OpenMiningChannel.Error", MI, 0, 0x12, False, "server → client",
    "request_id:U32", "error_code:STR0_255", doc="A standard or extended channel could not be opened.")
msg("OpenExtendedMiningChannel", "OpenExtendedMiningChannel", MI, 0, 0x13, False, "client → server",
    "request_id:U32", "user_identity:STR0_255", "nominal_hash_rate:F32", "max_target:U256",
    "min_extranonce_size:U16", doc="Requests an extended mining channel (the client rolls part of the extranonce).")
msg("OpenExtendedMiningChannelSuccess", "OpenExtendedMiningChannel.Success", MI, 0, 0x14, False, "server → client",
    "request_id:U32", "channel_id:U32", "target:U256", "extranonce_size:U16", "extranonce_prefix:B0_32",
    # Added by sv2-spec PR #162 (2025-11) / SRI PR #2044; SRI pool_sv2 0.1.3 and earlier end before it.
    "group_channel_id:U32|absent=0",
    doc="An extended channel was opened. `group_channel_id` is absent in the pre-2025-11 layout (0: no group).")
msg("NewMiningJob", "NewMiningJob", MI, 0, 0x15, True, "server → client",
    "channel_id:U32", "job_id:U32", "min_ntime:OPTION_U32", "version:U32", "merkle_root:U256",
    doc="A job for a standard channel (merkle root precomputed). `minNtime == nil` means a future job.")
msg("UpdateChannel", "UpdateChannel", MI, 0, 0x16, True, "client → server",
    "channel_id:U32", "nominal_hash_rate:F32", "maximum_target:U256", doc="Updates a channel's hashrate and target bound.")
msg("UpdateChannelError", "UpdateChannel.Error", MI, 0, 0x17, True, "server → client",
    "channel_id:U32", "error_code:STR0_255", doc="Rejects an `UpdateChannel`.")
msg("CloseChannel", "CloseChannel", MI, 0, 0x18, True, "both directions",
    "channel_id:U32", "reason_code:STR0_255", doc="Closes a channel (a group id closes all its members).")
msg("SetExtranoncePrefix", "SetExtranoncePrefix", MI, 0, 0x19, True, "server → client",
    "channel_id:U32", "extranonce_prefix:B0_32", doc="Changes a channel's extranonce prefix for future jobs.")
msg("SubmitSharesStandard", "SubmitSharesStandard", MI, 0, 0x1a, True, "client → server",
    "channel_id:U32", "sequence_number:U32", "job_id:U32", "nonce:U32", "ntime:U32", "version:U32",
    doc="A share on a standard channel.")
msg("SubmitSharesExtended", "SubmitSharesExtended", MI, 0, 0x1b, True, "client → server",
    "channel_id:U32", "sequence_number:U32", "job_id:U32", "nonce:U32", "ntime:U32", "version:U32",
    "extranonce:B0_32", "@trailing", doc="A share on an extended channel; extension TLVs may follow the fields.")
msg("SubmitSharesSuccess", "SubmitShares.Success", MI, 0, 0x1c, True, "server → client",
    "channel_id:U32", "last_sequence_number:U32", "new_submits_accepted_count:U32", "new_shares_sum:U64",
    doc="Acknowledges a batch of accepted shares.")
msg("SubmitSharesError", "SubmitShares.Error", MI, 0, 0x1d, True, "server → client",
    "channel_id:U32", "sequence_number:U32", "error_code:STR0_255", doc="Rejects one share.")
msg("NewExtendedMiningJob", "NewExtendedMiningJob", MI, 0, 0x1f, True, "server → client",
    "channel_id:U32", "job_id:U32", "min_ntime:OPTION_U32", "version:U32", "version_rolling_allowed:BOOL",
    "merkle_path:SEQ0_255_U256", "coinbase_tx_prefix:B0_64K", "coinbase_tx_suffix:B0_64K",
    doc="A job for an extended (or group) channel: coinbase halves (BIP141-stripped) and merkle path.")
msg("SetNewPrevHash", "SetNewPrevHash", MI, 0, 0x20, True, "server → client",
    "channel_id:U32", "job_id:U32", "prev_hash:U256", "min_ntime:U32", "nbits:U32",
    doc="Mining protocol: activates a future job on a new chain tip.")
msg("SetTarget", "SetTarget", MI, 0, 0x21, True, "server → client",
    "channel_id:U32", "maximum_target:U256", doc="Sets a channel's share target.")
msg("SetCustomMiningJob", "SetCustomMiningJob", MI, 0, 0x22, True, "client → server",
    "channel_id:U32", "request_id:U32", "mining_job_token:B0_255", "version:U32", "prev_hash:U256", "min_ntime:U32",
    "nbits:U32", "coinbase_tx_version:U32", "coinbase_prefix:B0_255",
    "coinbase_tx_input_nSequence=coinbaseTxInputSequence:U32", "coinbase_tx_outputs:B0_64K",
    "coinbase_tx_locktime:U32", "merkle_path:SEQ0_255_U256",
    doc="A job chosen by the miner side (Job Declaration); `coinbaseTxOutputs` is CompactSize-prefixed.")
msg("SetCustomMiningJobSuccess", "SetCustomMiningJob.Success", MI, 0, 0x23, True, "server → client",
    "channel_id:U32", "request_id:U32", "job_id:U32", doc="Accepts a custom job.")
msg("SetCustomMiningJobError", "SetCustomMiningJob.Error", MI, 0, 0x24, True, "server → client",
    "channel_id:U32", "request_id:U32", "error_code:STR0_255", doc="Rejects a custom job.")
msg("SetGroupChannel", "SetGroupChannel", MI, 0, 0x25, False, "server → client",
    "group_channel_id:U32", "channel_ids:SEQ0_64K_U32", doc="Puts channels into a group channel.")

msg("AllocateMiningJobToken", "AllocateMiningJobToken", JD, 0, 0x50, False, "client → server",
    "user_identifier:STR0_255", "request_id:U32", doc="Asks the Job Declarator for a mining job token.")
msg("AllocateMiningJobTokenSuccess", "AllocateMiningJobToken.Success", JD, 0, 0x51, False, "server → client",
    "request_id:U32", "mining_job_token:B0_255", "coinbase_tx_outputs:B0_64K",
    doc="A token plus the pool's coinbase outputs (CompactSize-prefixed).")
msg("ProvideMissingTransactions", "ProvideMissingTransactions", JD, 0, 0x55, False, "server → client",
    "request_id:U32", "unknown_tx_position_list:SEQ0_64K_U16", doc="Asks for transactions the JDS does not know.")
msg("ProvideMissingTransactionsSuccess", "ProvideMissingTransactions.Success", JD, 0, 0x56, False, "client → server",
    "request_id:U32", "transaction_list:SEQ0_64K_B0_16M", doc="The requested transactions.")
msg("DeclareMiningJob", "DeclareMiningJob", JD, 0, 0x57, False, "client → server",
    "request_id:U32", "mining_job_token:B0_255", "version:U32", "coinbase_tx_prefix:B0_64K",
    "coinbase_tx_suffix:B0_64K", "wtxid_list:SEQ0_64K_U256", "excess_data:B0_64K",
    doc="Declares a job (Full-Template mode); coinbase halves keep their BIP141 fields.")
msg("DeclareMiningJobSuccess", "DeclareMiningJob.Success", JD, 0, 0x58, False, "server → client",
    "request_id:U32", "new_mining_job_token:B0_255", doc="Accepts a declared job.")
msg("DeclareMiningJobError", "DeclareMiningJob.Error", JD, 0, 0x59, False, "server → client",
    "request_id:U32", "error_code:STR0_255", "error_details:B0_64K", doc="Rejects a declared job.")
msg("PushSolution", "PushSolution", JD, 0, 0x60, False, "client → server",
    "extranonce:B0_32", "prev_hash:U256", "nonce:U32", "ntime:U32", "nbits:U32", "version:U32",
    doc="A block found on a declared job, so the JDS can propagate it too.")

msg("CoinbaseOutputConstraints", "CoinbaseOutputConstraints", TD, 0, 0x70, False, "client → server",
    # The sigops field was added by sv2-spec PR #86 (2024-06; the message was CoinbaseOutputDataSize before): an
    # older client sends only the size. 400 is Bitcoin Core's default coinbase sigops reservation.
    "coinbase_output_max_additional_size:U32", "coinbase_output_max_additional_sigops:U16|absent=400",
    doc="How many bytes and sigops the client will add to the coinbase (older clients send only the size).")
msg("NewTemplate", "NewTemplate", TD, 0, 0x71, False, "server → client",
    "template_id:U64", "future_template:BOOL", "version:U32", "coinbase_tx_version:U32", "coinbase_prefix:B0_255",
    "coinbase_tx_input_sequence:U32", "coinbase_tx_value_remaining:U64", "coinbase_tx_outputs_count:U32",
    "coinbase_tx_outputs:B0_64K", "coinbase_tx_locktime:U32", "merkle_path:SEQ0_255_U256",
    doc="A block template; `coinbaseTxOutputs` has no count prefix (the count is `coinbaseTxOutputsCount`).")
msg("TemplateSetNewPrevHash", "SetNewPrevHash (Template Distribution)", TD, 0, 0x72, False, "server → client",
    "template_id:U64", "prev_hash:U256", "header_timestamp:U32", "nBits=nbits:U32", "target:U256",
    doc="Template Distribution: a new chain tip, activating a future template.")
msg("RequestTransactionData", "RequestTransactionData", TD, 0, 0x73, False, "client → server",
    "template_id:U64", doc="Asks for a template's transactions.")
msg("RequestTransactionDataSuccess", "RequestTransactionData.Success", TD, 0, 0x74, False, "server → client",
    "template_id:U64", "excess_data:B0_64K", "transaction_list:SEQ0_64K_B0_16M", doc="A template's transactions.")
msg("RequestTransactionDataError", "RequestTransactionData.Error", TD, 0, 0x75, False, "server → client",
    "template_id:U64", "error_code:STR0_255", doc="The template's transactions are not available.")
msg("SubmitSolution", "SubmitSolution", TD, 0, 0x76, False, "client → server",
    "template_id:U64", "version:U32", "header_timestamp:U32", "header_nonce:U32", "coinbase_tx:B0_64K",
    doc="A block solution for a template (full coinbase with witness).")

msg("RequestExtensions", "RequestExtensions", EX, 1, 0x00, False, "client → server",
    "request_id:U16", "requested_extensions:SEQ0_64K_U16", doc="Extension 0x0001: asks for optional extensions.")
msg("RequestExtensionsSuccess", "RequestExtensions.Success", EX, 1, 0x01, False, "server → client",
    "request_id:U16", "supported_extensions:SEQ0_64K_U16", doc="Extension 0x0001: the extensions that will be used.")
msg("RequestExtensionsError", "RequestExtensions.Error", EX, 1, 0x02, False, "server → client",
    "request_id:U16", "unsupported_extensions:SEQ0_64K_U16", "required_extensions:SEQ0_64K_U16",
    doc="Extension 0x0001: unsupported requests and what the server requires.")

# type → (owned Swift type, view Swift type, fixed size or None, read expr, write stmt, size expr, to-owned expr)
SCALAR = {
    "U8": ("UInt8", 1, "readU8", "writeU8"), "U16": ("UInt16", 2, "readU16", "writeU16"),
    "U32": ("UInt32", 4, "readU32", "writeU32"), "U64": ("UInt64", 8, "readU64", "writeU64"),
    "F32": ("Float", 4, "readF32", "writeF32"), "BOOL": ("Bool", 1, "readBool", "writeBool"),
    "U256": ("U256", 32, "readU256", "writeU256"),
}
BYTES = {"STR0_255": (1, 255), "B0_32": (1, 32), "B0_255": (1, 255), "B0_64K": (2, 65535), "B0_16M": (3, 0xFFFFFF)}
SEQ = {"SEQ0_255_U256": ("U256", 1), "SEQ0_64K_U16": ("UInt16", 2), "SEQ0_64K_U32": ("UInt32", 2),
       "SEQ0_64K_U256": ("U256", 2)}

def camel(wire):
    parts = wire.split("_")
    out = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    out = re.sub(r"Id(s?)$", r"ID\1", out)
    out = re.sub(r"Id(?=[A-Z])", "ID", out)
    return out

def lower_first(s): return s[:1].lower() + s[1:]

def parse_fields(m):
    out = []
    for f in m["fields"]:
        if f == "@trailing":
            continue
        name, typ = f.split(":")
        typ, _, absent = typ.partition("|absent=")
        wire, _, swift = name.partition("=")
        out.append(dict(wire=wire, swift=swift or camel(wire), type=typ, absent=absent or None))
    # Optional trailing fields: scalars only, after every required field, never with extension data (whose
    # presence would make "absent" ambiguous).
    seen_optional = False
    for f in out:
        if f["absent"] is not None:
            assert f["type"] in SCALAR, "%s.%s: only scalars can be optional trailing fields" % (m["name"], f["wire"])
            assert "@trailing" not in m["fields"], "%s: optional trailing field and extension data" % m["name"]
            seen_optional = True
        else:
            assert not seen_optional, "%s.%s: required field after an optional trailing one" % (m["name"], f["wire"])
    return out

def has_name(f):
    return "has" + f["swift"][:1].upper() + f["swift"][1:]

def owned_type(t):
    if t in SCALAR: return SCALAR[t][0]
    if t == "STR0_255": return "String"
    if t in BYTES: return "[UInt8]"
    if t == "OPTION_U32": return "UInt32?"
    if t in SEQ: return "[%s]" % SEQ[t][0]
    if t == "SEQ0_64K_B0_16M": return "[[UInt8]]"
    raise ValueError(t)

def view_type(t):
    if t in SCALAR: return SCALAR[t][0]
    if t in BYTES: return "Sv2Bytes"
    if t == "OPTION_U32": return "UInt32?"
    if t in SEQ: return "Sv2FixedWidthSequence<%s>" % SEQ[t][0]
    if t == "SEQ0_64K_B0_16M": return "Sv2ByteStringSequence"
    raise ValueError(t)

def read_expr(f):
    t, w = f["type"], f["wire"]
    if t in SCALAR: return 'try reader.%s("%s")' % (SCALAR[t][2], w)
    if t in BYTES: return 'try reader.readBytes(prefixWidth: %d, limit: %d, "%s")' % (BYTES[t][0], BYTES[t][1], w)
    if t == "OPTION_U32": return 'try reader.readOptionalU32("%s")' % w
    if t in SEQ: return 'try reader.readSequence(of: %s.self, countWidth: %d, "%s")' % (SEQ[t][0], SEQ[t][1], w)
    if t == "SEQ0_64K_B0_16M": return 'try reader.readByteStringSequence("%s")' % w

def write_stmt(f):
    t, w, s = f["type"], f["wire"], f["swift"]
    if t in SCALAR: return 'try writer.%s(%s, "%s")' % (SCALAR[t][3], s, w)
    if t == "STR0_255": return 'try writer.writeString(%s, "%s")' % (s, w)
    if t in BYTES: return 'try writer.writeBytes(%s, prefixWidth: %d, limit: %d, "%s")' % (s, BYTES[t][0], BYTES[t][1], w)
    if t == "OPTION_U32": return 'try writer.writeOptionalU32(%s, "%s")' % (s, w)
    if t in SEQ: return 'try writer.writeSequence(%s, countWidth: %d, "%s")' % (s, SEQ[t][1], w)
    if t == "SEQ0_64K_B0_16M": return 'try writer.writeByteStringSequence(%s, "%s")' % (s, w)

def size_expr(f):
    t, s = f["type"], f["swift"]
    if t in SCALAR: return str(SCALAR[t][1])
    if t == "STR0_255": return "1 + %s.utf8.count" % s
    if t in BYTES: return "%d + %s.count" % (BYTES[t][0], s)
    if t == "OPTION_U32": return "(%s == nil ? 1 : 5)" % s
    if t in SEQ: return "%d + %s.count * %d" % (SEQ[t][1], s, 32 if SEQ[t][0] == "U256" else SCALAR["U16" if SEQ[t][0] == "UInt16" else "U32"][1])
    if t == "SEQ0_64K_B0_16M": return "%s.reduce(2) { $0 + 3 + $1.count }" % s

def to_owned(f):
    t, s = f["type"], f["swift"]
    if t in SCALAR or t == "OPTION_U32": return "view.%s" % s
    if t == "STR0_255": return "String(decodingSTR0_255: view.%s)" % s
    if t in BYTES: return "Array(view.%s)" % s
    if t in SEQ: return "Array(view.%s)" % s
    if t == "SEQ0_64K_B0_16M": return "view.%s.map { Array($0) }" % s

def type_doc(t):
    return {"OPTION_U32": "OPTION[U32]", "SEQ0_255_U256": "SEQ0_255[U256]", "SEQ0_64K_U16": "SEQ0_64K[U16]",
            "SEQ0_64K_U32": "SEQ0_64K[U32]", "SEQ0_64K_U256": "SEQ0_64K[U256]",
            "SEQ0_64K_B0_16M": "SEQ0_64K[B0_16M]"}.get(t, t)

HEADER = "// Generated by scripts/gen-messages.py from the message table there. Do not edit by hand.\n"

def gen_message(m):
    fields = parse_fields(m)
    trailing = "@trailing" in m["fields"]
    case = lower_first(m["name"])
    loc = "0x%04x/0x%02x%s" % (m["ext"], m["typ"], ", channel message" if m["ch"] else "")
    L = [HEADER]
    L.append("/// `%s` (%s, %s): %s" % (m["wire"], loc, m["dir"], m["doc"]))
    L.append("///")
    L.append("/// The owned form, for building, storing and sending. `%sView` reads the same bytes in place." % m["name"])
    L.append("public struct %s: Sv2Message {" % m["name"])
    L.append("    /// The zero-copy view type of this message.")
    L.append("    public typealias View = %sView" % m["name"])
    L.append("    /// `%s` (extension 0x%04x, type 0x%02x)." % (m["wire"], m["ext"], m["typ"]))
    L.append("    public static let messageType = Sv2MessageType.%s" % case)
    for f in fields:
        L.append("    /// `%s` (%s)." % (f["wire"], type_doc(f["type"])))
        L.append("    public var %s: %s" % (f["swift"], owned_type(f["type"])))
    if trailing:
        L.append("    /// Raw extension data (TLVs, see `Sv2TLV`) appended after the fields; empty when none.")
        L.append("    public var extensionData: [UInt8]")
    params = ["%s: %s" % (f["swift"], owned_type(f["type"])) for f in fields]
    if trailing: params.append("extensionData: [UInt8] = []")
    L.append("")
    L.append("    /// Creates the message from its fields.")
    L.append("    public init(%s) {" % ", ".join(params))
    for f in fields: L.append("        self.%s = %s" % (f["swift"], f["swift"]))
    if trailing: L.append("        self.extensionData = extensionData")
    L.append("    }")
    L.append("")
    L.append("    /// Copies a decoded view into an owned message.")
    L.append("    public init(_ view: %sView) {" % m["name"])
    for f in fields: L.append("        %s = %s" % (f["swift"], to_owned(f)))
    if trailing: L.append("        extensionData = Array(view.trailingBytes)")
    L.append("    }")
    L.append("")
    L.append("    /// Payload size in bytes (without the 6-byte frame header).")
    sizes = [size_expr(f) for f in fields] + (["extensionData.count"] if trailing else [])
    L.append("    public var encodedSize: Int {")
    L.append("        " + "\n            + ".join(sizes) if sizes else "        0")
    L.append("    }")
    L.append("")
    L.append("    /// The channel this message is addressed to%s." % ("" if m["ch"] else " (`nil`: not a channel message)"))
    L.append("    public var messageChannelID: UInt32? { %s }" % ("channelID" if m["ch"] else "nil"))
    L.append("")
    L.append("    /// Encodes the payload at the writer's position; throws if a field exceeds its type's limit or the")
    L.append("    /// buffer is too small.")
    L.append("    @inlinable public func encode(into writer: inout Sv2Writer) throws(Sv2EncodeError) {")
    for f in fields: L.append("        " + write_stmt(f))
    if trailing:
        L.append('        try writer.writeRaw(extensionData, "extension_data")')
    L.append("    }")
    L.append("}")
    L.append("")
    L.append("/// Zero-copy view of `%s`: scalars are decoded, byte strings and sequences point into the payload." % m["wire"])
    L.append("/// Byte strings are `Sv2Bytes`: bounds-checked, read-only, not copied.")
    L.append("///")
    L.append("/// Valid only while the buffer it was decoded from is (during the handler call that received it); copy with")
    L.append("/// `%s(view)` to keep it." % m["name"])
    L.append("public struct %sView: Sv2MessageView {" % m["name"])
    L.append("    /// The owned message type.")
    L.append("    public typealias Message = %s" % m["name"])
    for f in fields:
        if f["absent"] is not None:
            L.append("    /// `%s` (%s); `%s` when the sender's layout ends before it (see `%s`)." % (
                f["wire"], type_doc(f["type"]), f["absent"], has_name(f)))
            L.append("    public let %s: %s" % (f["swift"], view_type(f["type"])))
            L.append("    /// Whether the payload carried `%s` (older layouts end before it)." % f["wire"])
            L.append("    public let %s: Bool" % has_name(f))
            continue
        L.append("    /// `%s` (%s)." % (f["wire"], type_doc(f["type"])))
        L.append("    public let %s: %s" % (f["swift"], view_type(f["type"])))
    L.append("    /// Bytes after the known fields (extension TLVs); usually empty.")
    L.append("    public let trailingBytes: Sv2Bytes")
    L.append("")
    L.append("    /// Decodes `payload` in place; every length is checked against the payload.")
    L.append("    @inlinable public init(payload: Sv2Bytes) throws(Sv2DecodeError) {")
    L.append("        var reader = Sv2Reader(payload, message: .%s)" % case)
    for f in fields:
        if f["absent"] is not None:
            # Absent only if the payload ends exactly here; a partial field is a truncation error.
            L.append("        %s = reader.remainingCount > 0" % has_name(f))
            L.append("        %s = try %s ? %s : %s" % (
                f["swift"], has_name(f), read_expr(f).replace("try ", "", 1), f["absent"]))
            continue
        L.append("        %s = %s" % (f["swift"], read_expr(f)))
    L.append("        trailingBytes = reader.remainingBytes")
    L.append("    }")
    L.append("}")
    return "\n".join(L) + "\n"

def gen_type_enum():
    L = [HEADER]
    L.append("/// Every message this codec knows, identified by extension type (without the channel bit) and message type.")
    L.append("///")
    L.append("/// The raw value is `extension_type << 8 | msg_type`.")
    L.append("public enum Sv2MessageType: UInt32, Sendable, CaseIterable, CustomStringConvertible {")
    for m in M:
        L.append("    /// `%s` (%s)." % (m["wire"], m["dir"]))
        L.append("    case %s = 0x%04x" % (lower_first(m["name"]), m["ext"] << 8 | m["typ"]))
    L.append("")
    L.append("    /// The message with this extension type (channel bit ignored) and type byte, if known.")
    L.append("    @inlinable public init?(extensionType: UInt16, messageType: UInt8) {")
    L.append("        self.init(rawValue: UInt32(extensionType & 0x7fff) << 8 | UInt32(messageType))")
    L.append("    }")
    L.append("")
    L.append("    /// The frame's `extension_type` without the channel bit.")
    L.append("    @inlinable public var extensionType: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 8) }")
    L.append("    /// The frame's `msg_type` byte.")
    L.append("    @inlinable public var messageTypeByte: UInt8 { UInt8(truncatingIfNeeded: rawValue) }")
    L.append("")
    L.append("    /// Whether frames of this message carry the channel bit (and start with a channel id).")
    L.append("    public var isChannelMessage: Bool {")
    L.append("        switch self {")
    chs = [lower_first(m["name"]) for m in M if m["ch"]]
    L.append("        case " + ", ".join("." + c for c in chs) + ": true")
    L.append("        default: false")
    L.append("        }")
    L.append("    }")
    L.append("")
    L.append("    /// The subprotocol (or extension) the message belongs to.")
    L.append("    public var group: Sv2MessageGroup {")
    L.append("        switch self {")
    for g in (C, MI, JD, TD, EX):
        cs = [lower_first(m["name"]) for m in M if m["group"] == g]
        L.append("        case " + ", ".join("." + c for c in cs) + ": .%s" % g)
    L.append("        }")
    L.append("    }")
    L.append("")
    L.append("    /// The spec's name, e.g. `SetupConnection.Success`.")
    L.append("    public var description: String {")
    L.append("        switch self {")
    for m in M: L.append('        case .%s: "%s"' % (lower_first(m["name"]), m["wire"]))
    L.append("        }")
    L.append("    }")
    L.append("")
    L.append("    /// Calls `visitor` with the owned Swift type of this message (generic code over all messages).")
    L.append("    public func accept<Visitor: Sv2MessageTypeVisitor>(_ visitor: inout Visitor) -> Visitor.Result {")
    L.append("        switch self {")
    for m in M: L.append("        case .%s: visitor.visit(%s.self)" % (lower_first(m["name"]), m["name"]))
    L.append("        }")
    L.append("    }")
    L.append("}")
    return "\n".join(L) + "\n"

def gen_any():
    L = [HEADER]
    L.append("/// Any known message, owned: for tools, tests and logging (the service hot path uses views instead).")
    L.append("public enum Sv2AnyMessage: Sendable, Equatable {")
    for m in M:
        L.append("    /// `%s`." % m["wire"])
        L.append("    case %s(%s)" % (lower_first(m["name"]), m["name"]))
    L.append("")
    L.append("    /// Decodes an owned message of the given type from its payload.")
    L.append("    public init(type: Sv2MessageType, payload: Sv2Bytes) throws(Sv2DecodeError) {")
    L.append("        switch type {")
    for m in M:
        c = lower_first(m["name"])
        L.append("        case .%s: self = .%s(%s(try %sView(payload: payload)))" % (c, c, m["name"], m["name"]))
    L.append("        }")
    L.append("    }")
    L.append("")
    L.append("    /// The message as an existential, for generic encoding.")
    L.append("    public var message: any Sv2Message {")
    L.append("        switch self {")
    for m in M: L.append("        case .%s(let message): message" % lower_first(m["name"]))
    L.append("        }")
    L.append("    }")
    L.append("}")
    return "\n".join(L) + "\n"

def gen_random():
    L = [HEADER]
    L.append("import Sv2Codec")
    L.append("")
    L.append("/// Random instances of every message, within each field type's limits (`large` pushes lengths to the limit).")
    L.append("protocol RandomMessage: Sv2Message {")
    L.append("    static func random(_ rng: inout TestRNG, large: Bool) -> Self")
    L.append("}")
    for m in M:
        fields = parse_fields(m)
        L.append("")
        L.append("extension %s: RandomMessage {" % m["name"])
        L.append("    static func random(_ rng: inout TestRNG, large: Bool) -> Self {")
        args = []
        for f in fields:
            t = f["type"]
            if t in SCALAR: e = "rng.%s()" % {"UInt8": "u8", "UInt16": "u16", "UInt32": "u32", "UInt64": "u64", "Float": "f32", "Bool": "bool", "U256": "u256"}[SCALAR[t][0]]
            elif t == "STR0_255": e = "rng.string(max: 255, large: large)"
            elif t in BYTES: e = "rng.bytes(max: %d, large: large)" % BYTES[t][1]
            elif t == "OPTION_U32": e = "rng.optionalU32()"
            elif t in SEQ: e = "rng.sequence(max: %d, large: large) { $0.%s() }" % (255 if SEQ[t][1] == 1 else 65535, {"U256": "u256", "UInt16": "u16", "UInt32": "u32"}[SEQ[t][0]])
            elif t == "SEQ0_64K_B0_16M": e = "rng.byteStrings(large: large)"
            args.append("%s: %s" % (f["swift"], e))
        L.append("        %s(%s)" % (m["name"], ",\n            ".join(args)))
        L.append("    }")
        L.append("}")
    L.append("")
    L.append("/// Messages with optional trailing fields (older layouts end before them): how many bytes those fields take.")
    L.append("/// A payload cut exactly there still decodes, as the older layout.")
    L.append("let optionalTrailingBytes: [Sv2MessageType: Int] = [")
    for m in M:
        n = sum(SCALAR[f["type"]][1] for f in parse_fields(m) if f["absent"] is not None)
        if n: L.append("    .%s: %d," % (lower_first(m["name"]), n))
    L.append("]")
    L.append("")
    L.append("/// Runs `check` with the Swift type of `type` (generic test bodies over every message).")
    L.append("func withMessageType(_ type: Sv2MessageType, _ check: some RandomMessageCheck) throws {")
    L.append("    switch type {")
    for m in M: L.append("    case .%s: try check.run(%s.self)" % (lower_first(m["name"]), m["name"]))
    L.append("    }")
    L.append("}")
    L.append("")
    L.append("/// A test body generic over the message type.")
    L.append("protocol RandomMessageCheck {")
    L.append("    func run<M: RandomMessage>(_ type: M.Type) throws")
    L.append("}")
    return "\n".join(L) + "\n"

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh: fh.write(text)

def gen_codec():
    for old in os.listdir(OUT) if os.path.isdir(OUT) else []:
        os.remove(os.path.join(OUT, old))
    for m in M: write(os.path.join(OUT, m["name"] + ".swift"), gen_message(m))
    write(os.path.join(ROOT, "Sources", "Sv2Codec", "Sv2MessageType.swift"), gen_type_enum())
    write(os.path.join(ROOT, "Sources", "Sv2Codec", "Sv2AnyMessage.swift"), gen_any())
    write(os.path.join(TEST_OUT, "RandomMessages.swift"), gen_random())


# ---------------------------------------------------------------------------------------------------------------
# Sv2Service: handler protocols (one per subprotocol and side), Null handlers and the dispatch switches.
SERVICE_OUT = os.path.join(ROOT, "Sources", "Sv2Service", "Generated")
SIDES = {"Server": ("client → server", "the server receives from clients"),
         "Client": ("server → client", "the client receives from its server")}
GROUP_TITLE = {MI: ("Mining", "Mining"), JD: ("JobDeclaration", "Job Declaration"),
               TD: ("TemplateDistribution", "Template Distribution")}

def receives(m, side):
    return m["dir"] == SIDES[side][0] or m["dir"] == "both directions"

def gen_handler(group, side):
    prefix, title = GROUP_TITLE[group]
    proto = "Sv2%s%sHandler" % (prefix, side)
    ctx = "Sv2%sContext" % side
    msgs = [m for m in M if m["group"] == group and receives(m, side)]
    if group == MI and side == "Client":
        # Common messages about channels and endpoints reach the Mining client handler.
        msgs += [m for m in M if m["name"] in ("ChannelEndpointChanged", "Reconnect")]
    L = [HEADER, "public import Sv2Codec", ""]
    L.append("/// Handles the %s messages %s." % (title, SIDES[side][1]))
    L.append("///")
    L.append("/// One `handle(_:context:)` overload per message; each gets a zero-copy view that is valid only during the")
    L.append("/// call, and a context to reply through. Replies are encoded straight into the connection's write buffer")
    L.append("/// (zero, one or many per call); throwing closes that connection only. Overloads you don't implement reject")
    L.append("/// the message with `Sv2ServiceError.unexpectedMessage`. Handlers live inside the service (no existential, no")
    L.append("/// allocation per call); use a class if other services must reach the same state. The connection hooks")
    L.append("/// (`isSupported`, `connectionDidSetUp`, `connectionDidClose`) come from `Sv2SubprotocolHandler`.")
    L.append("public protocol %s: Sv2SubprotocolHandler where Context == %s {" % (proto, ctx))
    for m in msgs:
        L.append("    /// Handles `%s`." % m["wire"])
        L.append("    mutating func handle(_ message: %sView, context: %s) throws(Sv2ServiceError)" % (m["name"], ctx))
    L.append("}")
    L.append("")
    L.append("extension %s {" % proto)
    for m in msgs:
        if m["name"] == "Reconnect":
            L.append("    /// Ignores `Reconnect` unless overridden (the client logs it; reconnecting elsewhere is the app's choice).")
            L.append("    public mutating func handle(_ message: ReconnectView, context: %s) throws(Sv2ServiceError) {}" % ctx)
            continue
        L.append("    /// Rejects `%s` unless overridden." % m["wire"])
        L.append("    public mutating func handle(_ message: %sView, context: %s) throws(Sv2ServiceError) {" % (m["name"], ctx))
        L.append("        throw .unexpectedMessage(.%s)" % lower_first(m["name"]))
        L.append("    }")
    L.append("}")
    L.append("")
    L.append("/// \"%s is not supported\" on the %s side: SetupConnection for it is refused with" % (title, side.lower()))
    L.append("/// `unsupported-protocol` and any of its messages closes the connection.")
    L.append("public struct NullSv2%s%sHandler: %s {" % (prefix, side, proto))
    L.append("    /// Creates the Null handler.")
    L.append("    public init() {}")
    L.append("    /// Always `false`.")
    L.append("    public var isSupported: Bool { false }")
    L.append("}")
    L.append("")
    L.append("extension %s {" % proto)
    L.append("    /// Decodes a %s message this side receives and calls the matching overload (the service calls it;" % title)
    L.append("    /// implement the `handle` overloads, not this).")
    L.append("    @inlinable public mutating func dispatch(")
    L.append("        _ type: Sv2MessageType, payload: Sv2Bytes, context: %s" % ctx)
    L.append("    ) throws(Sv2ServiceError) {")
    L.append("        switch type {")
    for m in msgs:
        L.append("        case .%s: try handle(try decode(%sView.self, payload), context: context)" % (lower_first(m["name"]), m["name"]))
    L.append("        default: throw .unexpectedMessage(type)")
    L.append("        }")
    L.append("    }")
    L.append("}")
    return "\n".join(L) + "\n"

def gen_service():
    os.makedirs(SERVICE_OUT, exist_ok=True)
    for old in os.listdir(SERVICE_OUT): os.remove(os.path.join(SERVICE_OUT, old))
    for group in (MI, JD, TD):
        for side in ("Server", "Client"):
            name = "Sv2%s%sHandler.swift" % (GROUP_TITLE[group][0], side)
            write(os.path.join(SERVICE_OUT, name), gen_handler(group, side))

def main():
    gen_codec()
    gen_service()
    print("generated %d messages and their service handlers" % len(M))

if __name__ == "__main__":
    main()
