// Umbrella module: `import Stratum` brings in every public module of swift-stratum.
@_exported public import Sv2Codec
@_exported public import Reactor
@_exported public import Sv2Noise
@_exported public import Sv2Service
@_exported public import Sv2Bitcoin
@_exported public import Sv2Mining
@_exported public import Sv2Pool
@_exported public import Sv2Proxy
@_exported public import Sv2Miner
@_exported public import Sv2TemplateProvider
@_exported public import Sv2JobDeclaration
