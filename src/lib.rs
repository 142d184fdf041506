pub fn _placeholder_build() {}
