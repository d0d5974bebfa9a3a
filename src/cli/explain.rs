use std::path::PathBuf;

use clap::Args;

use clem_image::explain;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// An image (`.img`, `.img.xz`) or a node name, read as `<out>/<node>.img`
    pub image: String,
    /// Where node names are looked up
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// The whole explanation as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ExplainArgs) -> anyhow::Result<i32> {
    let given = PathBuf::from(&args.image);
    let path = if given.exists() || args.image.contains('/') || args.image.contains(".img") {
        given
    } else {
        args.out.join(format!("{}.img", args.image))
    };
    let ex = explain::explain_image(&path)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&ex)?);
    } else {
        print!("{}", ex.text());
    }
    Ok(0)
}
