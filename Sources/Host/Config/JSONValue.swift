import PluginKit

/// Any JSON value (PluginKit's: plugins read their configuration with it too), named here so
/// that the configuration's types read as the host's own.
public typealias JSONValue = PluginKit.JSONValue
