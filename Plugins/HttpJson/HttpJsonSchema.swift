/// The manifest's JSON Schema, as the plugin declares it (`gateway plugins list`, the console).
/// docs/http-json.md is the reference; this is what a validator can check.
enum HttpJsonSchema {
    static let text = """
        {"type":"object","required":["base_url","endpoints"],"properties":{
          "base_url":{"type":"string","description":"http(s) URL every path is appended to; its host must be in http.allowHosts"},
          "headers":{"type":"object","additionalProperties":{"type":"string"}},
          "secret_headers":{"type":"object","additionalProperties":{"type":"string"},"secret":true},
          "secrets":{"type":"object","additionalProperties":{"type":"string"},"secret":true,"description":"read by templates as {secrets.name}"},
          "timeout_ms":{"type":"integer","minimum":1,"maximum":3600000,"default":30000},
          "retries":{"type":"integer","minimum":0,"maximum":100,"default":3},
          "backoff_ms":{"type":"integer","minimum":0,"maximum":600000,"default":500},
          "rate_limit":{"type":"object","properties":{"per_second":{"type":"integer"},"per_minute":{"type":"integer"},"bucket":{"type":"string"}}},
          "auth":{"type":"object","required":["type"],"properties":{
            "type":{"enum":["none","api_key","bearer","basic","oauth2_client_credentials","oauth2_refresh_token","token"]},
            "in":{"enum":["header","query"]},"name":{"type":"string"},"value":{"type":"string","secret":true},
            "token":{"type":"string","secret":true},"username":{"type":"string"},"password":{"type":"string","secret":true},
            "token_url":{"type":"string"},"client_id":{"type":"string"},"client_secret":{"type":"string","secret":true},
            "scope":{"type":"string"},"client_auth":{"enum":["body","basic"]},
            "refresh_token":{"type":"string","secret":true},"access_token":{"type":"string","secret":true},
            "request":{"type":"object"},"access_token_path":{"type":"string"},"refresh_token_path":{"type":"string"},
            "expires_in_path":{"type":"string"},"use":{"type":"object"},"refresh_on":{"type":"array","items":{"type":"integer"}}}},
          "signature":{"type":"object","required":["algorithm","string","into"],"properties":{
            "algorithm":{"enum":["md5","sha1","sha256","hmac-md5","hmac-sha1","hmac-sha256"]},"string":{"type":"string"},
            "key":{"type":"string"},"pair":{"type":"string"},"separator":{"type":"string"},"exclude":{"type":"array"},
            "into":{"type":"object"},"encoding":{"enum":["hex","hex_upper","base64"]}}},
          "error":{"type":"object","required":["path","ok"]},
          "max_pages":{"type":"integer","minimum":1,"maximum":10000000,"default":10000},
          "concurrency":{"type":"integer","minimum":1,"maximum":64,"default":4},
          "default_endpoint":{"type":"string"},
          "endpoints":{"type":"object","additionalProperties":{"type":"object","required":["path"],"properties":{
            "method":{"enum":["GET","POST","PUT"]},"path":{"type":"string"},"query":{"type":"object"},"body":{},
            "body_format":{"enum":["json","form"]},"headers":{"type":"object"},"parameters":{"type":"object"},
            "pagination":{"type":"object","properties":{"type":{"enum":["none","page","offset","cursor","next_link","pagetag"]}}},
            "records":{"type":"object"},"primary_key":{"type":"string"},"incremental":{"type":"object"},"error":{"type":"object"}}}}}}
        """
}
