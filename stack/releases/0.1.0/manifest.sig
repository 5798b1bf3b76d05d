{
  "algorithm": "ECDSA-P256-SHA256",
  "keyId": "0a9feed410fb1d2b",
  "signature": "MEUCIFBNK9OOu9AKGhLIYfvaCi8x2ZEFEUsN4/9mktJbPvEkAiEAsIocUB\u002B4nE1Tm1L/fDSitc1ZWE\u002BGB/Dj5I\u002BSdFqtfQw="
}