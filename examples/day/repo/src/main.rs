mod api;

fn main() {
    println!("shop");
}
