"""The studies: the paper's study as cached stages (`pipeline`, `reproduce`, `stages`), its
report (`report`, `table2`, `text_tables`), the supervised ceiling (`supervised`, `ceiling`),
[B]'s angular-size cut (`cut_study`) and [C]'s MiraBest protocol (`mirabest_ssl`)."""
