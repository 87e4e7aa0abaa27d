import Foundation
import Sv2Codec

/// Loads a file from the `Vectors` resource folder.
func vectorData(_ name: String) throws -> Data {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Vectors"))
    return try Data(contentsOf: url)
}

/// Decodes hex; crashes the test on malformed input (vectors are trusted).
func hexBytes(_ text: String) -> [UInt8] { Sv2Hex.decode(text)! }

func hexString(_ bytes: some Sequence<UInt8>) -> String { Sv2Hex.encode(bytes) }

import Testing
