/// RFC 4180 CSV: fields separated by commas, optionally quoted; inside quotes, commas and
/// newlines are literal and `""` is a quote. Returns each record with the line it starts on.
enum CSV {
    static func parse(_ text: String, file: String) throws -> [(line: Int, fields: [String])] {
        var records: [(Int, [String])] = []
        var fields: [String] = [], field = "", quoted = false, afterQuote = false
        var line = 1, recordLine = 1, fieldStarted = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endRecord() {
            if fieldStarted || !fields.isEmpty || !field.isEmpty { fields.append(field); records.append((recordLine, fields)) }
            fields = []; field = ""; fieldStarted = false; afterQuote = false
        }
        while let c = pending ?? scalars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = scalars.next() {
                        if n == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; afterQuote = true; pending = n }
                    } else { quoted = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case ",":
                fields.append(field); field = ""; fieldStarted = true; afterQuote = false
            case "\r":
                continue
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            case "\"" where field.isEmpty && !afterQuote:
                quoted = true; fieldStarted = true
            default:
                if afterQuote { throw EvalError("\(file):\(line): text after a closing quote") }
                field.unicodeScalars.append(c); fieldStarted = true
            }
        }
        if quoted { throw EvalError("\(file):\(recordLine): unterminated quoted field") }
        endRecord()
        return records
    }
}
