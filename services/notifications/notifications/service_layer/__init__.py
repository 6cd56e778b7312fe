"""The notifications service's use cases: noting who must be told (`notices`), and delivering
(`delivering`), each a small function over the repository and the channel port."""
