import ArgumentParser

/// `sv2`: the swift-stratum command-line apps.
@main
struct SV2: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sv2",
        abstract: "Stratum V2 mining apps built on swift-stratum.",
        discussion: """
            Every app reads its options from flags and, with --config FILE, from a TOML file whose keys are the flag \
            names (e.g. `listen = "0.0.0.0:34254"`). Flags win over the file.

            Start with `sv2 demo`: a pool on the embedded template source plus CPU miners in one process.
            """,
        subcommands: [
            DemoCommand.self, PoolCommand.self, TemplateProviderCommand.self, MinerCommand.self, ProxyCommand.self,
            TranslatorCommand.self, JobDeclarationServerCommand.self, JobDeclarationClientCommand.self, KeysCommand.self, LoadTestCommand.self, AccountingCommand.self,
            BlocksCommand.self,
        ]
    )
}
