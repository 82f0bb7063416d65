//! UART0 of mps2-an386, a CMSDK APB UART, polled: the byte pipe to the host.
//! qemu connects it to a chardev (`-serial tcp:…`); the bridge joins that
//! socket to `arkwire serve`.
//!
//! The model has one byte of buffer each way and applies no baud rate:
//! qemu offers the next received byte once `DATA` has been read, so polling
//! loses nothing, and a written byte leaves at once.

use core::ptr::{read_volatile, write_volatile};

/// UART0's registers.
const BASE: usize = 0x4000_4000;
const DATA: *mut u32 = BASE as *mut u32;
const STATE: *mut u32 = (BASE + 0x04) as *mut u32;
const CTRL: *mut u32 = (BASE + 0x08) as *mut u32;
const BAUDDIV: *mut u32 = (BASE + 0x10) as *mut u32;

/// `STATE`: a byte waits to be sent.
const STATE_TX_FULL: u32 = 1 << 0;
/// `STATE`: a received byte waits to be read.
const STATE_RX_FULL: u32 = 1 << 1;
/// `CTRL`: transmitter and receiver on.
const CTRL_TX_RX: u32 = 0b11;

/// The UART, owned by the main loop.
pub struct Uart(());

impl Uart {
    /// Turns UART0 on. Call once.
    pub fn init() -> Uart {
        // SAFETY: UART0's documented registers; only this driver touches them.
        unsafe {
            // 16 is the smallest divider the UART accepts; qemu applies no baud rate.
            write_volatile(BAUDDIV, 16);
            write_volatile(CTRL, CTRL_TX_RX);
        }
        Uart(())
    }

    fn state(&self) -> u32 {
        // SAFETY: a read of the status register has no side effect.
        unsafe { read_volatile(STATE) }
    }

    /// Sends as many bytes of `bytes` as the UART takes now; returns how many.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let mut n = 0;
        for &b in bytes {
            if self.state() & STATE_TX_FULL != 0 {
                break;
            }
            // SAFETY: the transmit register, written only when it is free.
            unsafe { write_volatile(DATA, u32::from(b)) };
            n += 1;
        }
        n
    }

    /// The next received byte, if one is waiting.
    pub fn read_byte(&mut self) -> Option<u8> {
        if self.state() & STATE_RX_FULL == 0 {
            return None;
        }
        // SAFETY: the receive register; reading it frees it for the next byte.
        Some(unsafe { read_volatile(DATA) } as u8)
    }
}
