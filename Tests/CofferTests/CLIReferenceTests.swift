import Foundation
import Testing

/// docs/CLI.md against the binary's own description of itself
/// (argument-parser's `--experimental-dump-help`), so that the two cannot drift.
@Suite("CLI reference")
struct CLIReferenceTests {
    /// The help text (discussion) of every runnable command, by command.
    static func discussions() throws -> [String: String] {
        let root = try #require(try CLIHarness().ok(["--experimental-dump-help"]).json() as? [String: Any])
        var discussions: [String: String] = [:]
        func walk(_ command: [String: Any], _ path: [String]) {
            let subcommands = command["subcommands"] as? [[String: Any]] ?? []
            if subcommands.isEmpty, path.last != "help" { discussions[path.joined(separator: " ")] = command["discussion"] as? String ?? "" }
            for sub in subcommands { walk(sub, path + [sub["commandName"] as? String ?? "?"]) }
        }
        walk(try #require(root["command"] as? [String: Any]), ["coffer"])
        return discussions
    }

    /// Every runnable command (`coffer backup restore`) and its options, each
    /// as the set of its names, long (`--quiet`) and short (`-q`); `--help`
    /// and `--version` aside.
    static func commands() throws -> [String: [Set<String>]] {
        let dump = try CLIHarness().ok(["--experimental-dump-help"])
        let root = try #require(try dump.json() as? [String: Any])
        var commands: [String: [Set<String>]] = [:]
        func walk(_ command: [String: Any], _ path: [String]) {
            let subcommands = command["subcommands"] as? [[String: Any]] ?? []
            if subcommands.isEmpty, path.last != "help" {
                var options: [Set<String>] = []
                for argument in command["arguments"] as? [[String: Any]] ?? [] {
                    let names = Set((argument["names"] as? [[String: Any]] ?? []).compactMap { name -> String? in
                        guard let text = name["name"] as? String else { return nil }
                        return name["kind"] as? String == "long" ? "--" + text : "-" + text
                    })
                    if !names.isEmpty, names.isDisjoint(with: ["--help", "--version"]) { options.append(names) }
                }
                commands[path.joined(separator: " ")] = options
            }
            for sub in subcommands { walk(sub, path + [sub["commandName"] as? String ?? "?"]) }
        }
        walk(try #require(root["command"] as? [String: Any]), ["coffer"])
        return commands
    }

    /// The synopsis at the top of docs/CLI.md: the option names each
    /// command's lines give (`[the same options]` standing for the five of
    /// the `role create` line).
    static func synopsis(of commands: Set<String>) throws -> [String: Set<String>] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/CLI.md").path
        let block = try #require(try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "```").dropFirst().first)
        var lines: [String] = []
        for line in block.split(separator: "\n") {
            if line.hasPrefix("coffer ") { lines.append(String(line)) } else if line.hasPrefix(" "), !lines.isEmpty { lines[lines.count - 1] += " " + line }
        }
        var synopsis: [String: Set<String>] = [:]
        for line in lines {
            let expanded = line.replacingOccurrences(of: "[the same options]", with: "[--vault DIR] [--identity FILE] [--passphrase-file FILE] [--passphrase-command CMD] [--json]")
            let words = expanded.split(separator: " ").map(String.init)
            // The longest command the line starts with.
            guard let command = commands.filter({ words.starts(with: $0.split(separator: " ").map(String.init)) })
                .max(by: { $0.count < $1.count }) else { continue }
            // Option names are the tokens between spaces, brackets, parentheses and bars that start with - and a letter.
            let tokens = expanded.split(whereSeparator: { " []()|.".contains($0) }).map(String.init)
            synopsis[command, default: []].formUnion(tokens.filter { token in
                let name = token.drop { $0 == "-" }
                return token.hasPrefix("-") && token.count - name.count <= 2 && name.first?.isLetter == true
            })
        }
        return synopsis
    }

    @Test("every command's --help ends with examples of that command")
    func examples() throws {
        let discussions = try Self.discussions()
        #expect(discussions.count > 40)
        for (command, text) in discussions.sorted(by: { $0.key < $1.key }) {
            let examples = text.components(separatedBy: "Examples:\n").dropFirst().first ?? ""
            #expect(examples.split(separator: "\n").contains { $0.contains(command + " ") || $0.hasSuffix(command) }, "\(command) --help has no example of itself")
        }
    }

    @Test("outputs are -o everywhere and armor is -a everywhere; the older spellings (identity new --out, backup restore --to) still work")
    func consistentSpellings() throws {
        let cli = try CLIHarness()
        try cli.ok(["identity", "new", "-o", cli.environment["COFFER_IDENTITY"]!, "--name", "alice", "--no-passphrase"])
        try cli.ok(["identity", "new", "--out", cli.path("old-spelling.id"), "--no-passphrase"])
        try cli.ok(["init"])
        try cli.write("a.txt", Data("a\n".utf8))
        try cli.ok(["seal", cli.path("a.txt")])
        let recipient = try #require(try cli.ok(["identity", "show", "--json"]).json() as? [String: Any])["age"] as! String
        try cli.ok(["partner", "add", "self", recipient])
        try cli.ok(["bundle", "create", "a.txt", "--to", "self", "-a", "-o", cli.path("a.bundle")])
        #expect(try String(contentsOfFile: cli.path("a.bundle"), encoding: .utf8).hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----"))
        try cli.ok(["backup", "create", cli.path("dest")])
        try cli.ok(["backup", "restore", cli.path("dest"), "-o", cli.path("restored-new")])
        try cli.ok(["backup", "restore", cli.path("dest"), "--to", cli.path("restored-old")])
        for restored in ["restored-new", "restored-old"] {
            #expect(try cli.run(["verify", "--vault", cli.path(restored)]).status == Exit.ok)
        }
    }

    @Test("every command has a synopsis line, which names every option it takes and none it does not")
    func synopsisMatchesTheBinary() throws {
        let commands = try Self.commands()
        #expect(commands.count > 40, "the dump lists the commands")
        let synopsis = try Self.synopsis(of: Set(commands.keys))
        for (command, options) in commands.sorted(by: { $0.key < $1.key }) {
            guard let documented = synopsis[command] else {
                Issue.record("docs/CLI.md has no synopsis line for \(command)")
                continue
            }
            let omitted = options.filter { $0.isDisjoint(with: documented) }.map { $0.sorted().joined(separator: "/") }
            #expect(omitted.isEmpty, "\(command): the binary takes \(omitted), the synopsis omits them")
            let unknown = documented.subtracting(options.reduce(into: Set<String>()) { $0.formUnion($1) })
            #expect(unknown.isEmpty, "\(command): the synopsis names \(unknown.sorted()), which the binary does not take")
        }
    }
}
