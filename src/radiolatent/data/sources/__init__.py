"""One reader per kind of source: the shipped datasets (`mirabest`, `frdeep`,
`first_galaxy`), RGZ DR1's batch folders (`rgz`) and any folder of cutouts (`folder`, with
its optional catalogue: `folder_catalogue`). `data.registry` turns a spec into one of them."""
