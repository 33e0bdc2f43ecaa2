"""Banks' SRDI credit products: the catalogue enterprises are matched against."""
